// The SSE bytes a client receives, pinned: the hot path builds events as strings (no object per
// token), so their exact shape is asserted here, event by event, for chat and completions, with
// and without usage, and with a stop string. Ids and timestamps are normalized; consecutive
// text events of the same shape are folded (events merge when a client falls behind), and the
// streamed text must equal the non-streamed answer's.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { startServer } from "../support/http.ts";

const MODEL = "turbine-byte";
const PREFIX = (object: string): string => `data: {"id":ID,"object":"${object}","created":T,"model":"${MODEL}","choices":[`;

interface Wire {
  headers: Record<string, string>;
  /** Each event's text with ids, timestamps and text values normalized; runs of one shape folded. */
  shapes: string[];
  text: string;
}

async function wire(url: string, body: Record<string, unknown>): Promise<Wire> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  const raw = await r.text();
  assert.ok(raw.endsWith("\n\n"), "every event ends with a blank line");
  const headers: Record<string, string> = {};
  for (const k of ["content-type", "cache-control", "transfer-encoding"]) headers[k] = r.headers.get(k) ?? "";
  const shapes: string[] = [];
  let text = "";
  for (const event of raw.slice(0, -2).split("\n\n")) {
    assert.ok(event.startsWith("data: "), `an event is one data line: ${event}`);
    if (event !== "data: [DONE]") {
      const choice = (JSON.parse(event.slice(6)) as { choices: { delta?: { content?: string }; text?: string }[] }).choices[0];
      text += choice?.delta?.content ?? choice?.text ?? "";
    }
    const shape = event
      .replace(/"id":"[^"]*"/, '"id":ID')
      .replace(/"created":\d+/, '"created":T')
      .replace(/"(content|text)":"(?:[^"\\]|\\.)*"/, '"$1":S');
    if (shapes.at(-1) !== shape) shapes.push(shape);
  }
  return { headers, shapes, text };
}

describe("frontend - SSE wire format", () => {
  let server: EmbeddedServer;
  before(async () => {
    server = await startServer({ numWorkers: 1 });
  });
  after(() => server.close());

  const sseHeaders = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "transfer-encoding": "chunked" };

  test("frontend - a chat stream with usage: role first, content events, the finish, usage, [DONE]", async () => {
    const body = { model: MODEL, messages: [{ role: "user", content: 'Say "hi" ☃' }], max_tokens: 6, seed: 3 };
    const plain = (await (await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as {
      choices: { message: { content: string } }[];
      usage: { prompt_tokens: number };
    };
    const w = await wire(`${server.url}/v1/chat/completions`, { ...body, stream: true, stream_options: { include_usage: true } });
    assert.deepEqual(w.headers, sseHeaders);
    const p = PREFIX("chat.completion.chunk");
    const prompt = plain.usage.prompt_tokens;
    assert.deepEqual(w.shapes, [
      `${p}{"index":0,"delta":{"role":"assistant","content":S},"logprobs":null,"finish_reason":null}],"usage":null}`,
      `${p}{"index":0,"delta":{"content":S},"logprobs":null,"finish_reason":null}],"usage":null}`,
      `${p}{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null}`,
      `${p}],"usage":{"prompt_tokens":${prompt},"completion_tokens":6,"total_tokens":${prompt + 6},"prompt_tokens_details":{"cached_tokens":0}}}`,
      "data: [DONE]",
    ]);
    assert.equal(w.text, plain.choices[0]!.message.content);
  });

  test("frontend - a chat stream without usage has no usage field", async () => {
    const w = await wire(`${server.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 4, seed: 3, stream: true });
    const p = PREFIX("chat.completion.chunk");
    assert.deepEqual(w.shapes, [
      `${p}{"index":0,"delta":{"role":"assistant","content":S},"logprobs":null,"finish_reason":null}]}`,
      `${p}{"index":0,"delta":{"content":S},"logprobs":null,"finish_reason":null}]}`,
      `${p}{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}`,
      "data: [DONE]",
    ]);
    assert.equal(w.text.length, 4);
  });

  test("frontend - a completion stream with usage, and one cut by a stop string", async () => {
    const body = { model: MODEL, prompt: "abc", max_tokens: 12, seed: 1 };
    const plain = (await (await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as { choices: { text: string }[] };
    const full = plain.choices[0]!.text;
    const p = PREFIX("text_completion");
    const w = await wire(`${server.url}/v1/completions`, { ...body, stream: true, stream_options: { include_usage: true } });
    assert.deepEqual(w.headers, sseHeaders);
    assert.deepEqual(w.shapes.slice(-3), [
      `${p}{"index":0,"text":S,"logprobs":null,"finish_reason":"length"}],"usage":null}`,
      `${p}],"usage":{"prompt_tokens":4,"completion_tokens":12,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0}}}`,
      "data: [DONE]",
    ]);
    assert.deepEqual(w.shapes.slice(0, -3), [`${p}{"index":0,"text":S,"logprobs":null,"finish_reason":null}],"usage":null}`]);
    assert.equal(w.text, full);

    // A stop string at the text's 4th character: the text before it, then finish_reason "stop".
    const stop = full[3]!;
    const cut = full.slice(0, full.indexOf(stop));
    const s = await wire(`${server.url}/v1/completions`, { ...body, stream: true, stop: [stop] });
    assert.equal(s.text, cut);
    assert.equal(s.shapes.at(-2), `${p}{"index":0,"text":S,"logprobs":null,"finish_reason":"stop"}]}`);
    assert.equal(s.shapes.at(-1), "data: [DONE]");
  });
});
