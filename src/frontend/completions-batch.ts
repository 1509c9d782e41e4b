// /v1/completions with several prompts, `n` > 1 or `echo`: each prompt (each sample) is
// routed as its own request (the router spreads prompts, prefix hits included; a prompt's
// samples follow its first to the same worker: samples.ts), and the answer has one choice per
// sample, in order (`index`), the prompt's text first with `echo`. Streams interleave the
// choices' chunks as they come, each chunk naming its `index`, as OpenAI does.
import type { FastifyReply, FastifyRequest } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { PreprocessedRequest, Usage } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import type { CompletionBody } from "./openai-schemas.ts";
import { postprocess } from "./postprocessor.ts";
import type { TextDelta } from "./postprocessor.ts";
import { routeSamples, sampleRequests, samplesUsageJson } from "./samples.ts";

/** Whether the body needs this path: several prompts, `n` > 1, or echo. */
export function isCompletionBatch(body: CompletionBody): boolean {
  const p = body.prompt;
  const many = Array.isArray(p) && p.length > 1 && (typeof p[0] === "string" || Array.isArray(p[0]));
  return many || body.echo === true || (body.n ?? 1) > 1;
}

export async function serveCompletionBatch(req: FastifyRequest, reply: FastifyReply, pipeline: ModelPipeline, body: CompletionBody, api: ApiContext): Promise<unknown> {
  if (body.logprobs != null) throw new TurbineError("REQUEST_UNSUPPORTED", "logprobs are not supported with several prompts or echo", { param: "logprobs" });
  const p = body.prompt;
  const prompts: (string | number[])[] = typeof p === "string" ? [p] : typeof p[0] === "number" ? [p as number[]] : (p as (string | number[])[]);
  // Each prompt alone, echo off, n 1: the preprocessor's checks apply per prompt. Choice
  // i·n + j is prompt i's j-th sample (OpenAI's order).
  const n = body.n ?? 1;
  const requests: { request: PreprocessedRequest; stopStrings: string[] }[] = [];
  for (let i = 0; i < prompts.length; i++) {
    const one = prompts[i]!;
    const pre = await pipeline.preprocessor.completion({ ...body, prompt: typeof one === "string" ? one : [one], echo: false, n: 1 }, `${req.id}-${i * n}`);
    for (const request of sampleRequests(pre.request, n, req.id, i * n)) requests.push({ request, stopStrings: pre.stopStrings });
  }
  const echoes = prompts.flatMap((one) => Array.from({ length: n }, () => (body.echo === true ? (typeof one === "string" ? one : pipeline.tokenizer.decode(one)) : "")));
  const signal = api.abortSignal(reply);
  const samples = await routeSamples(
    api,
    req,
    reply,
    pipeline,
    requests.map((r) => r.request),
    n,
    signal,
  );
  const runs: AsyncGenerator<TextDelta>[] = samples.routed.map((routed, k) =>
    postprocess(routed.outputs, {
      tokenizer: pipeline.tokenizer,
      stopStrings: requests[k]!.stopStrings,
      promptTokens: requests[k]!.request.tokenIds.length,
      estimatedCachedTokens: routed.decision.cachedTokens,
      promptParam: "prompt",
    }),
  );
  const usages: (Usage | undefined)[] = [];
  const id = `cmpl-${req.id}`;
  const created = Math.floor(Date.now() / 1000);
  const model = pipeline.card.name;
  const add = (u: Usage | undefined, index: number): void => {
    usages[index] = u;
  };
  const usageJson = (): Record<string, unknown> => samplesUsageJson(usages, n);
  const finishAll = (status: number): void => samples.finish(usages, status);
  if (!body.stream) {
    let ok = false;
    try {
      const choices = await Promise.all(
        runs.map(async (deltas, index) => {
          let text = echoes[index]!;
          let last: TextDelta | undefined;
          for await (const d of deltas) {
            text += d.text;
            last = d;
          }
          add(last?.usage, index);
          return { index, text, logprobs: null, finish_reason: last?.finishReason ?? "stop" };
        }),
      );
      ok = true;
      return { id, object: "text_completion", created, model, choices, usage: usageJson() };
    } finally {
      finishAll(ok ? 200 : 500);
    }
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choice: Record<string, unknown>): string =>
    `data: ${JSON.stringify({ id, object: "text_completion", created, model, choices: [choice], ...(includeUsage ? { usage: null } : {}) })}\n\n`;
  try {
    await Promise.all(
      runs.map(async (deltas, index) => {
        if (echoes[index]!.length > 0) raw.write(chunk({ index, text: echoes[index], logprobs: null, finish_reason: null }));
        for await (const d of deltas) {
          if (raw.destroyed) return;
          if (d.text.length > 0) raw.write(chunk({ index, text: d.text, logprobs: null, finish_reason: null }));
          if (d.finishReason) {
            add(d.usage, index);
            raw.write(chunk({ index, text: "", logprobs: null, finish_reason: d.finishReason }));
          }
        }
      }),
    );
    if (includeUsage) raw.write(`data: ${JSON.stringify({ id, object: "text_completion", created, model, choices: [], usage: usageJson() })}\n\n`);
    raw.end("data: [DONE]\n\n");
  } catch (err) {
    const e = api.report(err, req);
    api.setStatus(reply, e.status);
    if (!raw.destroyed) raw.end(`data: ${JSON.stringify(e.body)}\n\ndata: [DONE]\n\n`);
  } finally {
    await Promise.all(runs.map((r) => r.return(undefined)));
    finishAll(200);
  }
  return reply;
}
