import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { postRaw, startServer, waitFor } from "../support/http.ts";
import { rawRequest } from "../support/raw-http.ts";

const MODEL = "turbine-byte";

/** turbine_requests_total by "model|endpoint|status". */
async function requestCounts(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^turbine_requests_total\{model="([^"]*)",endpoint="([^"]*)",status="(\d+)"\} (\d+)$/gm)) {
    counts.set(`${m[1]}|${m[2]}|${m[3]}`, Number(m[4]));
  }
  return counts;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) d[k] = v - (before.get(k) ?? 0);
  return d;
}

describe("frontend - errors keep their kind, every request is counted once", () => {
  let server: EmbeddedServer;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    // 8 KV blocks of 16 tokens: a prompt of more than 128 tokens cannot fit in the engine,
    // while the context (32768) lets it past the frontend's own check.
    server = await startServer({ numWorkers: 1, mocker: { numKvBlocks: 8 }, logger: pino({ level: "info" }, sink) });
  });
  after(() => server.close());

  test("frontend - a prompt larger than the engine's KV capacity is a 400 with its code, not a 500", async () => {
    const completion = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "x".repeat(300), max_tokens: 1 }));
    assert.equal(completion.status, 400, JSON.stringify(completion.json));
    const e = (completion.json as { error: { code: string; param: string | null; type: string } }).error;
    assert.equal(e.code, "request_context_length_exceeded");
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.param, "prompt");
    const chat = await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "y".repeat(300) }], max_tokens: 1 }));
    assert.equal(chat.status, 400);
    assert.equal((chat.json as { error: { code: string; param: string } }).error.param, "messages");
    // Streaming: the error comes before the first token, so it is a proper HTTP error too.
    const stream = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "x".repeat(300), max_tokens: 1, stream: true }));
    assert.equal(stream.status, 400);
  });

  test("frontend - an engine error code is mapped once: known codes kept, unknown ones are ENGINE_FAILED", async () => {
    const { engineOutputError } = await import("../../src/protocols/index.ts");
    assert.equal(engineOutputError({ code: "REQUEST_CONTEXT_LENGTH_EXCEEDED", message: "too long" }, "prompt").status, 400);
    assert.equal(engineOutputError({ code: "REQUEST_CONTEXT_LENGTH_EXCEEDED", message: "too long" }, "prompt").param, "prompt");
    assert.equal(engineOutputError({ code: "ENGINE_OVERLOADED", message: "full" }).status, 503);
    const unknown = engineOutputError({ code: "SOMETHING_NEWER", message: "?" });
    assert.equal(unknown.code, "ENGINE_FAILED");
    assert.equal(unknown.message, "?");
    assert.equal(engineOutputError(undefined).code, "ENGINE_FAILED");
    assert.equal(engineOutputError({ code: "ENGINE_FAILED", message: "x" }, "prompt").param, undefined, "a failure is not the prompt's fault");
  });

  test("frontend - every request is counted in turbine_requests_total with its final status, refusals included", async () => {
    const before = await requestCounts(server.url);
    const chat = (body: unknown): Promise<unknown> => postRaw(`${server.url}/v1/chat/completions`, JSON.stringify(body));
    const ok = { model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 };
    assert.equal(((await chat(ok)) as { status: number }).status, 200);
    assert.equal((await postRaw(`${server.url}/v1/chat/completions`, "{")).status, 400); // bad JSON: model unknown
    assert.equal(((await chat({ ...ok, max_tokens: "x" })) as { status: number }).status, 400); // schema
    assert.equal(((await chat({ ...ok, model: "nope" })) as { status: number }).status, 404); // unknown model
    assert.equal((await fetch(`${server.url}/v1/nowhere`)).status, 404); // unknown route
    assert.equal((await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "x".repeat(9 * 1024 * 1024) }))).status, 413);
    const pinned = (await chat({ ...ok, turbine: { worker_id: "no-such-worker" } })) as { status: number };
    assert.equal(pinned.status, 503, "pinned to an unknown worker: no worker to route to");
    const huge = await rawRequest(server.url, { method: "GET", target: "/v1/models", headers: { "x-big": "a".repeat(20_000) } });
    assert.equal(huge.status, 431);
    // A stream the client leaves mid-way: 499.
    const ctrl = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "z", max_tokens: 100, stream: true, ignore_eos: true }),
      signal: ctrl.signal,
    });
    await res.body!.getReader().read();
    ctrl.abort();
    await waitFor(() => server.frontend.models.get(MODEL)!.router.numActiveRequests === 0, 5000, "the cancel to reach the router");
    // The counter is read on the response's close: give the last ones a moment.
    let d: Record<string, number> = {};
    const expected = {
      [`${MODEL}|chat|200`]: 1,
      "|chat|400": 1,
      [`${MODEL}|chat|400`]: 1,
      "|chat|404": 1,
      "|none|404": 1,
      "|completions|413": 1,
      [`${MODEL}|chat|503`]: 1,
      "|none|431": 1,
      [`${MODEL}|completions|499`]: 1,
    };
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      d = delta(before, await requestCounts(server.url));
      delete d["|metrics|200"]; // the scrapes themselves
      if (JSON.stringify(Object.keys(d).sort()) === JSON.stringify(Object.keys(expected).sort())) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(d, expected, "each request counted once, with its final status");
    const inFlight = (await (await fetch(`${server.url}/metrics`)).text()).match(/^turbine_requests_in_flight\{model="turbine-byte"\} (\d+)$/m);
    assert.equal(inFlight?.[1], "0");
  });

  test("frontend - expected refusals are not logged one by one; a summary line counts them", async () => {
    const start = lines.length;
    for (let i = 0; i < 30; i++) {
      const r = await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], turbine: { worker_id: "gone" } }));
      assert.equal(r.status, 503);
    }
    const mine = lines.slice(start);
    assert.deepEqual(mine.filter((l) => Number(l["level"]) >= 50), [], "no error lines for expected 503s");
    assert.ok(mine.every((l) => !("err" in l)), "no stack traces");
    assert.ok(mine.length <= 1, `at most one summary line in the interval, got ${mine.length}`);
    // Earlier tests refused requests too: the first summary line has already been written.
    const summaries = lines.filter((l) => String(l["msg"]).startsWith("requests refused"));
    assert.ok(summaries.length >= 1, "a summary line was written");
    assert.equal(Number(summaries[0]!["level"]), 40, "at warn level");
  });
});

test("frontend - the refusal summary writes at most one line per interval, with the counts by code", async () => {
  const { RefusalLog } = await import("../../src/frontend/refusal-log.ts");
  const written: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = { warn: (obj: Record<string, unknown>, msg: string) => written.push({ obj, msg }) } as unknown as FastifyBaseLogger;
  let now = 0;
  const r = new RefusalLog(() => log, 10_000, () => now);
  r.record("router_all_busy"); // the first one is written at once
  for (let i = 0; i < 500; i++) {
    now += 10;
    r.record(i % 2 === 0 ? "router_all_busy" : "request_invalid");
  }
  assert.equal(written.length, 1, "5 s of refusals: still one line");
  now = 10_000;
  r.record("router_all_busy");
  assert.equal(written.length, 2);
  assert.deepEqual(written[1]!.obj["refused"], { router_all_busy: 251, request_invalid: 250 });
  r.flush();
  assert.equal(written.length, 2, "nothing left to write");
});
