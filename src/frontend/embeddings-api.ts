// POST /v1/embeddings: each input is tokenized like a completion prompt and routed as an
// "embed" request on the generate path (so the KV router and the planes are shared); engines
// that declare the `embeddings` feature answer it (llama.cpp: an embedding context of the same
// model; openai-proxy: the upstream's /v1/embeddings). Others are refused before routing.
import type { FastifyInstance } from "fastify";
import { TurbineError, asRequestId } from "../protocols/index.ts";
import type { PreprocessedRequest } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import { postprocess } from "./postprocessor.ts";

interface EmbeddingsBody {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: "float" | "base64" | null;
  dimensions?: number | null;
  user?: string | null;
}

const MAX_INPUTS = 2048;

const embeddingsSchema = {
  type: "object",
  required: ["model", "input"],
  properties: {
    model: { type: "string", minLength: 1 },
    input: {
      anyOf: [
        { type: "string" },
        { type: "array", items: { type: "string" }, minItems: 1, maxItems: MAX_INPUTS },
        { type: "array", items: { type: "integer", minimum: 0 }, minItems: 1 },
        { type: "array", items: { type: "array", items: { type: "integer", minimum: 0 }, minItems: 1 }, minItems: 1, maxItems: MAX_INPUTS },
      ],
    },
    encoding_format: { enum: ["float", "base64", null] },
    dimensions: { type: ["integer", "null"], minimum: 1 },
    user: { type: ["string", "null"] },
  },
} as const;

export function registerEmbeddingsApi(app: FastifyInstance, api: ApiContext): void {
  app.post<{ Body: EmbeddingsBody }>("/v1/embeddings", { schema: { body: embeddingsSchema }, config: { endpoint: "embeddings" } }, async (req, reply) => {
    const body = req.body;
    const pipeline = api.modelOf(body.model, reply);
    if (!(pipeline.card.features ?? []).includes("embeddings")) {
      throw new TurbineError("REQUEST_UNSUPPORTED", `The engine serving '${pipeline.card.name}' does not compute embeddings`, { param: "model" });
    }
    if (body.dimensions != null) throw new TurbineError("REQUEST_UNSUPPORTED", "dimensions (shortened embeddings) are not supported", { param: "dimensions" });
    const inputs: number[][] = [];
    const p = body.input;
    if (typeof p === "string") inputs.push(pipeline.tokenizer.encode(p, { addSpecialTokens: true }));
    else if (typeof p[0] === "number") inputs.push(p as number[]);
    else for (const x of p as (string | number[])[]) inputs.push(typeof x === "string" ? pipeline.tokenizer.encode(x, { addSpecialTokens: true }) : x);
    let chars = 0;
    for (const ids of inputs) {
      if (ids.length === 0) throw new TurbineError("REQUEST_INVALID", "An input is empty", { param: "input" });
      if (ids.length >= pipeline.card.contextLength) {
        throw new TurbineError("REQUEST_CONTEXT_LENGTH_EXCEEDED", `An input has ${ids.length} tokens; this model's context is ${pipeline.card.contextLength}`, { param: "input" });
      }
      for (const id of ids) if (id >= pipeline.tokenizer.vocabSize) throw new TurbineError("REQUEST_INVALID", `token id ${id} is outside the vocabulary`, { param: "input" });
      chars += ids.length;
    }
    const signal = api.abortSignal(reply);
    // The inputs run concurrently; the router spreads them like any requests.
    const results = await Promise.all(
      inputs.map(async (tokenIds, i) => {
        const request: PreprocessedRequest = {
          requestId: asRequestId(`${req.id}-${i}`),
          model: pipeline.card.name,
          tokenIds,
          sampling: {},
          stop: { maxTokens: 1, stopTokenIds: [] },
          task: "embed",
        };
        const { routed, done } = await api.route(req, reply, pipeline, request, signal);
        let embedding: number[] | undefined;
        let status = 499;
        try {
          for await (const d of postprocess(routed.outputs, { tokenizer: pipeline.tokenizer, stopStrings: [], promptTokens: tokenIds.length, estimatedCachedTokens: 0, promptParam: "input" })) {
            if (d.embedding) embedding = d.embedding;
          }
          status = 200;
        } finally {
          done(0, status);
        }
        if (embedding === undefined) throw new TurbineError("ENGINE_FAILED", "the engine answered an embedding request without an embedding");
        return embedding;
      }),
    );
    const base64 = body.encoding_format === "base64";
    return {
      object: "list",
      data: results.map((e, index) => ({ object: "embedding", index, embedding: base64 ? Buffer.from(new Float32Array(e).buffer).toString("base64") : e })),
      model: pipeline.card.name,
      usage: { prompt_tokens: chars, total_tokens: chars },
    };
  });
}
