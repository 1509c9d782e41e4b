// Disaggregated prefill and decode in one process (mocker engines): prompts flow through a
// prefill worker to a decode worker, the conditional rule holds, and every failure on the
// prefill side costs a local prefill, never the request.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import type { Worker } from "../../src/engines/index.ts";
import { postRaw, startServer, waitFor } from "../support/http.ts";

const MODEL = "turbine-byte";

async function complete(server: EmbeddedServer, prompt: string, maxTokens = 16): Promise<{ text: string; cached: number; worker: string }> {
  const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens, seed: 9, ignore_eos: true }));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const j = r.json as { choices: { text: string }[]; usage: { prompt_tokens_details: { cached_tokens: number } } };
  return { text: j.choices[0]!.text, cached: j.usage.prompt_tokens_details.cached_tokens, worker: r.headers.get("x-turbine-worker")! };
}

const prefillWorkers = (s: EmbeddedServer): Worker[] => s.workers.filter((w) => w.component === "prefill");
const decodeWorkers = (s: EmbeddedServer): Worker[] => s.workers.filter((w) => w.component !== "prefill");
const sum = (ws: Worker[], k: "imports" | "failures" | "exports"): number => ws.reduce((n, w) => n + w.kvTransferCounters[k], 0);

async function remotePrefills(server: EmbeddedServer, outcome: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`turbine_remote_prefills_total\\{model="${MODEL}",outcome="${outcome}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

test("disagg - prompts flow through a prefill worker, and the output equals aggregated serving", async () => {
  const prompt = "A long document to prefill elsewhere. ".repeat(30);
  const aggregated = await startServer({ numWorkers: 1 });
  let reference: string;
  try {
    reference = (await complete(aggregated, prompt)).text;
  } finally {
    await aggregated.close();
  }
  const server = await startServer({
    numWorkers: 2,
    numPrefillWorkers: 1,
    disaggregation: { maxLocalPrefillTokens: 0 },
    mocker: { speedup: 100, kvBytesPerToken: 4096 },
  });
  try {
    const health = (await (await fetch(`${server.url}/health`)).json()) as { models: { prefillWorkers: number; workers: number }[] };
    assert.deepEqual([health.models[0]!.workers, health.models[0]!.prefillWorkers], [2, 1]);
    const r = await complete(server, prompt);
    assert.equal(r.text, reference, "token-identical to aggregated serving");
    assert.equal(sum(prefillWorkers(server), "exports"), 1, "the prefill worker computed the prompt's KV");
    assert.equal(sum(decodeWorkers(server), "imports"), 1, "the decode worker pulled it through the transfer library");
    // The decode engine found the imported blocks: only the tail was computed there.
    const fullBlocks = Math.floor((prompt.length + 1) / 16) * 16;
    assert.ok(r.cached >= fullBlocks - 16, `cached ${r.cached} of ${prompt.length + 1} prompt tokens`);
    assert.equal(await remotePrefills(server, "ok"), 1);
  } finally {
    await server.close();
  }
});

test("disagg - short or cached prompts are prefilled locally (the conditional rule)", async () => {
  const server = await startServer({
    numWorkers: 1,
    numPrefillWorkers: 1,
    disaggregation: { maxLocalPrefillTokens: 200 },
    mocker: { speedup: 100, kvBytesPerToken: 1024 },
  });
  try {
    await complete(server, "short prompt");
    assert.equal(sum(prefillWorkers(server), "exports"), 0, "a short prompt stays on the decode worker");
    const long = "x".repeat(600);
    await complete(server, long);
    assert.equal(sum(prefillWorkers(server), "exports"), 1, "a long uncached prompt goes to the prefill worker");
    await complete(server, `${long} and a short tail`);
    assert.equal(sum(prefillWorkers(server), "exports"), 1, "a prompt mostly cached on the decode worker stays there");
  } finally {
    await server.close();
  }
});

test("disagg - while the prefill workers' queue is deep, prompts are prefilled locally", async () => {
  const server = await startServer({
    numWorkers: 1,
    numPrefillWorkers: 1,
    disaggregation: { maxLocalPrefillTokens: 0, maxPrefillQueueTokens: 100 },
    // Real time: the first prefill (6,000 tokens, ~150 ms) is still queued when the others arrive.
    mocker: { speedup: 1, kvBytesPerToken: 64 },
  });
  try {
    // Sent together: the first finds an empty queue; the others find its tokens queued.
    await Promise.all([0, 1, 2].map((i) => complete(server, `${i}`.repeat(6000), 2)));
    assert.equal(sum(prefillWorkers(server), "exports"), 1);
    assert.equal(await remotePrefills(server, "ok"), 1);
  } finally {
    await server.close();
  }
});

test("disagg - with no prefill worker alive requests are served aggregated", async () => {
  const server = await startServer({ numWorkers: 1, numPrefillWorkers: 1, disaggregation: { maxLocalPrefillTokens: 0 }, mocker: { speedup: 100, kvBytesPerToken: 1024 } });
  try {
    await prefillWorkers(server)[0]!.stop();
    const r = await complete(server, "y".repeat(400));
    assert.equal(r.text.length, 16);
    assert.equal(sum(decodeWorkers(server), "imports"), 0);
  } finally {
    await server.close();
  }
});

test("disagg - a prefill worker that dies mid-request costs a local prefill, never the request", async () => {
  // Real-time mocker: a 4,000-token prefill takes long enough to stop the worker under it.
  const server = await startServer({ numWorkers: 1, numPrefillWorkers: 1, disaggregation: { maxLocalPrefillTokens: 0 }, mocker: { speedup: 1, kvBytesPerToken: 1024 } });
  try {
    const pending = complete(server, "z".repeat(4000), 4);
    // Stop it once it has the prompt (not after a fixed sleep: on a loaded machine the request
    // may not have reached it yet, and then nothing failed).
    const prefill = prefillWorkers(server)[0]!;
    await waitFor(() => prefill.numInFlight > 0, 5000, "the prompt to reach the prefill worker");
    await prefill.stop();
    const r = await pending;
    assert.equal(r.text.length, 4, "the request completed");
    assert.equal(await remotePrefills(server, "failed"), 1);
    assert.equal(sum(decodeWorkers(server), "imports"), 0, "it was prefilled locally");
  } finally {
    await server.close();
  }
});
