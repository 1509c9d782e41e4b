// Model cards that travel: a frontend that cannot read the worker's tokenizer files serves the
// model from the files the worker serves (digest-checked), and a card that cannot be loaded
// fails that model only, with a logged error, never the frontend.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { Frontend } from "../../src/frontend/index.ts";
import { MockerEngine, Worker } from "../../src/engines/index.ts";
import { builtinByteModel, loadHuggingFaceModel, loadModelForCard, withTokenizerDigest } from "../../src/model/index.ts";
import { Runtime } from "../../src/runtime/index.ts";
import { TurbineError } from "../../src/protocols/index.ts";
import { randomGguf } from "../support/gguf.ts";

const FIXTURE = new URL("./fixtures/tiny-bpe/", import.meta.url).pathname;

function tempCopy(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "turbine-travel-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, join(dir, "tiny"), { recursive: true });
  return join(dir, "tiny");
}

async function completion(url: string, model: string): Promise<{ status: number; body: { choices?: { text: string }[]; error?: { code: string } } }> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello there" }], max_tokens: 5 }),
  });
  return { status: r.status, body: (await r.json()) as never };
}

test("model - a frontend that cannot read the worker's tokenizer files fetches them from the worker", async (t) => {
  const folder = tempCopy(t);
  const loaded = await loadHuggingFaceModel(folder, { name: "tiny" });
  const runtime = Runtime.embedded();
  const worker = await Worker.start({
    runtime,
    namespace: "t",
    engine: new MockerEngine({ speedup: 50, card: { ...loaded.card, role: "aggregated" } }),
  });
  t.after(() => worker.stop());
  // The worker's files go away after it registered: the frontend's machine does not have them.
  rmSync(folder, { recursive: true, force: true });
  const frontend = await Frontend.start({ runtime, namespace: "t", host: "127.0.0.1", port: 0, processMetrics: false });
  t.after(() => frontend.close());
  await frontend.models.settled();
  assert.equal(frontend.models.tokenizerSources.get("tiny"), "worker", "the tokenizer came from the worker's files");
  const r = await completion(frontend.url, "tiny");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.choices?.length, 1);
});

test("model - a frontend that reads the same files at the card's path uses them; different content there is not used", async (t) => {
  const folder = tempCopy(t);
  const { card } = await withTokenizerDigest((await loadHuggingFaceModel(folder)).card);
  assert.match((card.tokenizer as { sha256: string }).sha256, /^[0-9a-f]{64}$/);
  const sources: string[] = [];
  let fetched = 0;
  await loadModelForCard(card, { onTokenizerSource: (s) => sources.push(s), fetchTokenizerFiles: async () => (fetched++, []) });
  assert.deepEqual(sources, ["path"]);
  assert.equal(fetched, 0);
  // Same path, other content (another version of the model on the frontend's machine).
  const other = { ...card, tokenizer: { ...card.tokenizer, sha256: "0".repeat(64) } } as typeof card;
  await assert.rejects(
    loadModelForCard(other, { fetchTokenizerFiles: async () => (fetched++, []) }),
    (e: unknown) => e instanceof TurbineError && e.code === "MODEL_LOAD_FAILED",
  );
  assert.equal(fetched, 1, "the worker's files were fetched (and their digest refused)");
});

test("model - a GGUF card travels as its vocabulary (header without tensors)", async (t) => {
  const gguf = await randomGguf();
  const { card, files } = await withTokenizerDigest({ tokenizer: { kind: "gguf" as const, path: gguf } });
  assert.equal(files.length, 1);
  const cacheDir = mkdtempSync(join(tmpdir(), "turbine-tokcache-"));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
  const { tokenizerFileChunks } = await import("../../src/model/index.ts");
  const sources: string[] = [];
  const moved = { ...card, tokenizer: { ...card.tokenizer, path: "/nonexistent/turbine-model.gguf" } };
  const remote = await loadModelForCard(moved, { cacheDir, fetchTokenizerFiles: async () => [...tokenizerFileChunks(files)], onTokenizerSource: (s) => sources.push(s) });
  const local = await loadModelForCard(card, {});
  assert.deepEqual(sources, ["worker"]);
  assert.deepEqual(remote.tokenizer.encode("hello world, again"), local.tokenizer.encode("hello world, again"));
});

test("model - a card that cannot be loaded fails that model with a logged error; the frontend serves the others", async (t) => {
  const runtime = Runtime.embedded();
  const byte = { ...builtinByteModel().card, role: "aggregated" as const };
  const bad = { ...byte, name: "broken", tokenizer: { kind: "huggingface" as const, path: "/nonexistent/turbine-model" } };
  const workers = await Promise.all([
    Worker.start({ runtime, namespace: "t", engine: new MockerEngine({ speedup: 50, card: bad }) }).catch((e: unknown) => e),
    Worker.start({ runtime, namespace: "t", engine: new MockerEngine({ speedup: 50, card: byte }) }),
  ]);
  // The worker itself refuses a card whose files it cannot read: register the bad card by hand.
  assert.ok(workers[0] instanceof TurbineError && workers[0].code === "MODEL_LOAD_FAILED");
  t.after(() => (workers[1] as Worker).stop());
  const served = await runtime
    .namespace("t")
    .component("backend")
    .endpoint("generate")
    .serve(async function* () {}, { metadata: { modelCard: { ...bad, numKvBlocks: 100 } } });
  t.after(() => served.stop());
  let logs = "";
  const logger = pino({ level: "error" }, new Writable({ write: (c: Buffer, _e, cb) => ((logs += c.toString()), cb()) }));
  // Before the fix, the model manager's error handler ran before `app` existed: ReferenceError.
  const frontend = await Frontend.start({ runtime, namespace: "t", host: "127.0.0.1", port: 0, processMetrics: false, logger });
  t.after(() => frontend.close());
  await frontend.models.settled();
  assert.equal(frontend.models.failedModels.get("broken") instanceof Error, true);
  assert.match(logs, /MODEL_LOAD_FAILED/);
  assert.match(logs, /broken/);
  const ok = await completion(frontend.url, byte.name);
  assert.equal(ok.status, 200);
  const refused = await completion(frontend.url, "broken");
  assert.equal(refused.status, 404);
});
