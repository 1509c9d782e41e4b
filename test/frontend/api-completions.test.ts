// /v1/completions with a list of prompts and with echo, streamed and not (mocker, byte model).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { startServer } from "../support/http.ts";

describe("api - completions with several prompts and echo", () => {
  let server: EmbeddedServer;
  let client: OpenAI;
  let model: string;
  before(async () => {
    server = await startServer({ numWorkers: 2 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    model = server.workers[0]!.engine.card.name;
  });
  after(() => server.close());

  test("api - a list of prompts gives one choice per prompt, in order; usage sums them", async () => {
    const r = await client.completions.create({ model, prompt: ["first prompt", "second", "third one here"], max_tokens: 3 });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    for (const c of r.choices) assert.equal(c.finish_reason, "length");
    assert.equal(r.usage!.completion_tokens, 9);
    // Each choice is what that prompt alone gives (the mocker is deterministic).
    const alone = await client.completions.create({ model, prompt: "second", max_tokens: 3 });
    assert.equal(r.choices[1]!.text, alone.choices[0]!.text);
    assert.equal(r.usage!.prompt_tokens, (await client.completions.create({ model, prompt: "first prompt", max_tokens: 1 })).usage!.prompt_tokens + alone.usage!.prompt_tokens + (await client.completions.create({ model, prompt: "third one here", max_tokens: 1 })).usage!.prompt_tokens);
  });

  test("api - echo puts the prompt before the completion; streams carry each choice's index", async () => {
    const r = await client.completions.create({ model, prompt: "Hello", max_tokens: 3, echo: true });
    const alone = await client.completions.create({ model, prompt: "Hello", max_tokens: 3 });
    assert.equal(r.choices[0]!.text, `Hello${alone.choices[0]!.text}`);
    const stream = await client.completions.create({ model, prompt: ["ab", "cd"], max_tokens: 2, echo: true, stream: true, stream_options: { include_usage: true } });
    const texts = ["", ""];
    const finishes: (string | null)[] = [null, null];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finishes[c.index] = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(texts[0]!.startsWith("ab") && texts[1]!.startsWith("cd"));
    assert.deepEqual(finishes, ["length", "length"]);
    assert.equal(usage!.completion_tokens, 4);
  });

  test("api - n > 1: n choices per prompt, on the worker of the prompt's first sample", async () => {
    const outputTokens = (): number[] => server.workers.map((w) => (w.engine as unknown as { core: { counters: { numOutputTokens: number } } }).core.counters.numOutputTokens);
    const before = outputTokens();
    const r = await client.completions.create({ model, prompt: "one two three", max_tokens: 2, n: 3, seed: 5 });
    const after = outputTokens();
    // All three samples ran on one worker: 6 output tokens there, none on the other.
    assert.deepEqual(after.map((a, i) => a - before[i]!).sort((a, b) => a - b), [0, 6]);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    const two = await client.completions.create({ model, prompt: ["one", "two"], max_tokens: 2, n: 3, seed: 5 });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
    assert.equal(two.usage!.completion_tokens, 12);
    // Each prompt counted once, not once per sample.
    const alone = await client.completions.create({ model, prompt: "one two three", max_tokens: 2 });
    assert.equal(r.usage!.prompt_tokens, alone.usage!.prompt_tokens);
  });
});
