import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getLlama } from "node-llama-cpp";
import type { Token } from "node-llama-cpp";
import type { EmbeddedServer } from "../../../src/cli/index.ts";
import type { LlamaCppEngine } from "../../../src/engines/index.ts";
import { RANDOM_BOS_ID, RANDOM_EOS_ID } from "../../../src/model/index.ts";
import { randomGguf } from "../../support/gguf.ts";
import { postRaw, startServer } from "../../support/http.ts";

const PROMPT = "Hello world, the model is here: the cache and the router";
const MAX_TOKENS = 24;

/** Greedy tokens straight from node-llama-cpp, no Turbine in between. */
async function direct(path: string, text: string, maxTokens: number): Promise<{ prompt: number[]; text: string; tokens: number[] }> {
  const llama = await getLlama({ build: "never", gpu: false });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
  const prompt = [RANDOM_BOS_ID, ...model.tokenize(text)] as Token[];
  const tokens: number[] = [];
  for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) {
    tokens.push(t);
    if (tokens.length >= maxTokens) break;
  }
  const out = { prompt: prompt as number[], text: model.detokenize(tokens as Token[]), tokens };
  await context.dispose();
  await model.dispose();
  return out;
}

describe("llamacpp - OpenAI API end to end", () => {
  let server: EmbeddedServer;
  let path: string;
  let model: string;

  before(async () => {
    path = await randomGguf();
    server = await startServer({ engine: "llamacpp", modelPath: path, numWorkers: 1, llamacpp: { numSequences: 2, contextSize: 512 } });
    model = server.frontend.models.models()[0]!.card.name;
  });
  after(() => server.close());

  test("llamacpp - greedy output through HTTP equals node-llama-cpp's, token for token", async () => {
    const want = await direct(path, PROMPT, MAX_TOKENS);
    const engine = server.workers[0]!.engine as LlamaCppEngine;
    const before = engine.counters.numOutputTokens;
    const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0 }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const body = r.json as { choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(body.usage.prompt_tokens, want.prompt.length, "same prompt tokens (BOS + the GGUF vocabulary's pieces)");
    assert.ok(!want.tokens.includes(RANDOM_EOS_ID));
    assert.equal(body.usage.completion_tokens, want.tokens.length);
    assert.equal(body.choices[0]!.text, want.text);
    assert.equal(engine.counters.numOutputTokens - before, MAX_TOKENS);

    // Token ids in, text out: the same again, and the prompt comes back from the prefix cache.
    const r2 = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model, prompt: want.prompt, max_tokens: MAX_TOKENS, temperature: 0 }));
    const body2 = r2.json as typeof body;
    assert.equal(body2.choices[0]!.text, want.text);
  });

  test("llamacpp - the model card comes from the GGUF file and chat works", async () => {
    const card = server.frontend.models.models()[0]!.card;
    assert.equal(card.tokenizer.kind, "gguf");
    assert.equal(card.bosTokenId, RANDOM_BOS_ID);
    assert.deepEqual(card.eosTokenIds, [RANDOM_EOS_ID]);
    assert.equal(card.contextLength, 512);
    const r = await postRaw(
      `${server.url}/v1/chat/completions`,
      JSON.stringify({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 5, temperature: 0 }),
    );
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const body = r.json as { usage: { prompt_tokens: number; completion_tokens: number } };
    // <s> <|user|> "\n" "Hi" </s> "\n" <|assistant|> "\n": role markers are single tokens.
    assert.ok(body.usage.prompt_tokens < 14, `prompt of ${body.usage.prompt_tokens} tokens`);
    assert.ok(body.usage.completion_tokens >= 1);
  });
});
