import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMooncakeTrace, parseMooncakeTrace } from "../../src/bench/index.ts";
import { TurbineError } from "../../src/protocols/index.ts";

const ROWS = [
  { timestamp: 1000, input_length: 1100, output_length: 5, hash_ids: [0, 1, 2] },
  { timestamp: 1000, input_length: 700, output_length: 9, hash_ids: [0, 3] },
  { timestamp: 3000, input_length: 1536, output_length: 2, hash_ids: [0, 1, 4] },
  { timestamp: 7000, input_length: 10, output_length: 1, hash_ids: [5] },
];
const TEXT = ROWS.map((r) => JSON.stringify(r)).join("\n") + "\n";

test("trace - same hash ids give identical token prefixes; lengths follow input_length", () => {
  const w = parseMooncakeTrace(TEXT, "t.jsonl");
  assert.equal(w.length, 4);
  const t = w.map((r) => r.tokenIds);
  assert.deepEqual(t.map((x) => x.length), [1100, 700, 1536, 10]);
  assert.deepEqual(w.map((r) => r.outputTokens), [5, 9, 2, 1]);
  assert.deepEqual(t[0]!.slice(0, 512), t[1]!.slice(0, 512)); // id 0 shared
  assert.notDeepEqual(t[0]!.slice(512, 700), t[1]!.slice(512, 700)); // ids 1 vs 3
  assert.deepEqual(t[0]!.slice(0, 1024), t[2]!.slice(0, 1024)); // ids 0, 1 shared
  assert.notDeepEqual(t[0]!.slice(1024, 1100), t[2]!.slice(1024, 1100)); // 2 vs 4
  assert.ok(t.every((x) => x.every((tok) => tok >= 1 && tok <= 255)));
  // A block is a pure function of its id: another load gives the same tokens.
  assert.deepEqual(parseMooncakeTrace(TEXT, "again").map((r) => r.tokenIds), t);
  // Reading twice gives equal arrays.
  assert.deepEqual(w[0]!.tokenIds, t[0]);
});

test("trace - timeScale, start and limit: arrivals are relative to the window's first row", () => {
  const all = parseMooncakeTrace(TEXT, "t", { timeScale: 0.5 });
  assert.deepEqual(all.map((r) => r.arrivalMs), [0, 0, 1000, 3000]);
  const win = parseMooncakeTrace(TEXT, "t", { start: 1, limit: 2 });
  assert.deepEqual(win.map((r) => r.arrivalMs), [0, 2000]);
  assert.deepEqual(win.map((r) => r.index), [0, 1]);
  assert.deepEqual(win[0]!.tokenIds, all[1]!.tokenIds);
});

test("trace - vocab and block size are honoured", () => {
  const w = parseMooncakeTrace(TEXT, "t", { vocab: { min: 1000, max: 1003 }, blockTokens: 1024 });
  assert.ok(w[0]!.tokenIds.every((t) => t >= 1000 && t <= 1003));
  assert.deepEqual(w[0]!.tokenIds.slice(0, 1024), w[2]!.tokenIds.slice(0, 1024));
});

test("trace - malformed rows are errors that name file and line", () => {
  assert.throws(() => parseMooncakeTrace(`${TEXT}\n{not json}\n`, "bad.jsonl"), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID");
  assert.throws(
    () => parseMooncakeTrace(JSON.stringify({ timestamp: 0, input_length: 2000, output_length: 1, hash_ids: [1] }), "short.jsonl"),
    /short\.jsonl:1: 1 hash_ids cover 512 tokens/,
  );
  assert.throws(() => parseMooncakeTrace(JSON.stringify({ timestamp: -1, input_length: 1, output_length: 1, hash_ids: [1] }), "f"), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID" && e.param === "timestamp");
  assert.throws(() => parseMooncakeTrace(JSON.stringify({ timestamp: 0, input_length: 1, output_length: 0, hash_ids: [1] }), "f"), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID" && e.param === "output_length");
});

test("trace - loads from a file", () => {
  const dir = mkdtempSync(join(tmpdir(), "turbine-trace-"));
  const path = join(dir, "t.jsonl");
  writeFileSync(path, TEXT);
  const w = loadMooncakeTrace(path, { limit: 2 });
  assert.equal(w.length, 2);
  assert.throws(() => loadMooncakeTrace(join(dir, "missing.jsonl")), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID");
});

const FULL = new URL("../../bench/data/mooncake_conversation_trace.jsonl", import.meta.url);

test("trace - the whole conversation trace loads", () => {
  const w = loadMooncakeTrace(FULL.pathname);
  assert.equal(w.length, 12031);
  assert.equal(w[w.length - 1]!.arrivalMs, 3_536_999);
  const tokens = w[0]!.tokenIds;
  assert.equal(tokens.length, 6758);
  assert.deepEqual(tokens.slice(0, 512), w[1]!.tokenIds.slice(0, 512)); // both start with id 0
});
