// The openai-proxy engine passes guided decoding, penalties, logit bias and logprobs to the
// upstream in the fields vLLM's and SGLang's /v1/completions take, and reads logprobs back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { OpenAIProxyEngine } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { EngineOutput, PreprocessedRequest } from "../../../src/protocols/index.ts";
import { builtinByteModel } from "../../../src/model/index.ts";

test("openai-proxy - request fields reach the upstream in its own names; logprobs come back per token", async () => {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      if (req.url === "/v1/embeddings") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ object: "embedding", index: 0, embedding: [0.25, -0.5, 1] }], usage: { prompt_tokens: 3, total_tokens: 3 } }));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (text: string, lp: number, finish: string | null): string =>
        `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: finish, logprobs: { tokens: [text], token_logprobs: [lp], top_logprobs: [{ [text]: lp, z: lp - 1 }] } }] })}\n\n`;
      res.end(chunk("a", -0.5, null) + chunk("b", -0.25, "stop") + `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { card, tokenizer } = builtinByteModel();
  const engine = new OpenAIProxyEngine({ upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, card, tokenizer, promptFormat: "tokens" });
  try {
    assert.deepEqual(engine.card.features, ["guided_decoding", "logprobs", "penalties", "logit_bias", "embeddings"]);
    const schema = { type: "object", properties: { a: { type: "string" } } };
    const request: PreprocessedRequest = {
      requestId: asRequestId("p1"),
      model: card.name,
      tokenIds: [256, 97, 98],
      sampling: { temperature: 0, presencePenalty: 0.5, frequencyPenalty: -0.5, repetitionPenalty: 1.2, logitBias: { "97": -100 } },
      stop: { maxTokens: 4, stopTokenIds: [] },
      guided: { kind: "json_schema", schema, strict: true, name: "thing" },
      logprobs: { topLogprobs: 2 },
    };
    const outs: EngineOutput[] = [];
    for await (const o of engine.generate(request, { signal: new AbortController().signal })) outs.push(o);
    const b = bodies[0]!;
    assert.equal(b["presence_penalty"], 0.5);
    assert.equal(b["frequency_penalty"], -0.5);
    assert.equal(b["repetition_penalty"], 1.2);
    assert.deepEqual(b["logit_bias"], { "97": -100 });
    assert.deepEqual(b["response_format"], { type: "json_schema", json_schema: { name: "thing", schema, strict: true } });
    assert.equal(b["logprobs"], 2);
    const lps = outs.flatMap((o) => o.logprobs ?? []);
    assert.deepEqual(
      lps.map((l) => [l.token, l.logprob, l.top.map((t) => t.token)]),
      [
        ["a", -0.5, ["a", "z"]],
        ["b", -0.25, ["b", "z"]],
      ],
    );
    // Token ids: the re-tokenized text, where counts agree (byte tokenizer: one id per byte).
    assert.deepEqual(lps.map((l) => l.tokenId), [97, 98]);
    // json_object.
    for await (const _ of engine.generate({ ...request, requestId: asRequestId("p2"), guided: { kind: "json_object" } }, { signal: new AbortController().signal })) void _;
    assert.deepEqual(bodies[1]!["response_format"], { type: "json_object" });
    // Embeddings: the upstream's /v1/embeddings with the prompt's token ids.
    const embedded: EngineOutput[] = [];
    for await (const o of engine.generate({ ...request, requestId: asRequestId("p3"), task: "embed" }, { signal: new AbortController().signal })) embedded.push(o);
    assert.deepEqual(bodies[2], { model: engine.upstreamModel, input: [[256, 97, 98]] });
    assert.deepEqual(embedded.map((o) => [o.embedding, o.finishReason, o.usage?.promptTokens]), [[[0.25, -0.5, 1], "stop", 3]]);
  } finally {
    await engine.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
