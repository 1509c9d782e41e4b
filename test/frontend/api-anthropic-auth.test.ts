// Anthropic clients send their key as `x-api-key`: accepted on /v1/messages routes, as a bearer
// token is; refused elsewhere and when wrong, with Anthropic's error shape on its routes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { postRaw, startServer } from "../support/http.ts";

test("api - anthropic routes take x-api-key; a wrong key is an authentication_error", async () => {
  const server = await startServer({ numWorkers: 1, apiKeys: ["sekret"] });
  try {
    const model = server.workers[0]!.engine.card.name;
    const body = JSON.stringify({ model, max_tokens: 3, messages: [{ role: "user", content: "hi" }] });
    const ok = await postRaw(`${server.url}/v1/messages`, body, { "content-type": "application/json", "x-api-key": "sekret" });
    assert.equal(ok.status, 200);
    assert.equal((ok.json as { type: string }).type, "message");
    const bearer = await postRaw(`${server.url}/v1/messages`, body, { "content-type": "application/json", authorization: "Bearer sekret" });
    assert.equal(bearer.status, 200);
    const wrong = await postRaw(`${server.url}/v1/messages`, body, { "content-type": "application/json", "x-api-key": "nope" });
    assert.equal(wrong.status, 401);
    assert.deepEqual((wrong.json as { type: string; error: { type: string } }).error.type, "authentication_error");
    // x-api-key is not a key for the OpenAI routes.
    const chat = await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }), { "content-type": "application/json", "x-api-key": "sekret" });
    assert.equal(chat.status, 401);
  } finally {
    await server.close();
  }
});

test("api - anthropic stop_sequences: stop_reason stop_sequence names the one that ended the text", async () => {
  const server = await startServer({ numWorkers: 1 });
  try {
    const model = server.workers[0]!.engine.card.name;
    const ask = (extra: object) => postRaw(`${server.url}/v1/messages`, JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content: "hi" }], ...extra }));
    const free = (await ask({})).json as { content: { text: string }[]; stop_reason: string };
    assert.equal(free.stop_reason, "max_tokens");
    const text = free.content[0]!.text;
    const stop = text.slice(3, 5);
    const cut = (await ask({ stop_sequences: [stop, "never-there"] })).json as { content: { text: string }[]; stop_reason: string; stop_sequence: string | null };
    assert.equal(cut.stop_reason, "stop_sequence");
    assert.equal(cut.stop_sequence, stop);
    assert.equal(cut.content[0]!.text, text.slice(0, text.indexOf(stop)));
  } finally {
    await server.close();
  }
});
