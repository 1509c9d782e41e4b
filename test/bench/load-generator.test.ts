// The load generator against a real Turbine server (embedded, mocker at speedup 1000) in each
// sending mode, plus a scripted fake server for timeouts, broken streams and packed chunks.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedServer, buildProgram } from "../../src/cli/index.ts";
import {
  BenchHttpClient,
  formatBenchText,
  loadMooncakeTrace,
  multiTurnWorkload,
  poissonArrivals,
  runBench,
  runLoad,
  sharedPrefixWorkload,
  syntheticWorkload,
} from "../../src/bench/index.ts";
import type { BenchResult, ScheduledRecord, WorkloadRequest } from "../../src/bench/index.ts";

const MODEL = "turbine-byte";
let server: EmbeddedServer;
const dir = mkdtempSync(join(tmpdir(), "turbine-bench-"));

before(async () => {
  server = await EmbeddedServer.start({ host: "127.0.0.1", port: 0, numWorkers: 2, mocker: { speedup: 1000 } });
});
after(async () => {
  await server.close();
});

function assertExact(records: readonly ScheduledRecord[], requests: readonly WorkloadRequest[]): void {
  assert.equal(records.length, requests.length);
  for (const r of records) {
    assert.equal(r.ok, true, r.error);
    assert.equal(r.status, 200);
    assert.equal(r.outputTokens, requests[r.index]!.outputTokens, `request ${r.index} output length`);
    assert.equal(r.requestedOutputTokens, requests[r.index]!.outputTokens);
    assert.equal(r.promptTokens, requests[r.index]!.tokenIds.length);
    assert.ok(r.firstTokenMs !== undefined);
    assert.ok(r.startMs <= r.firstTokenMs! && r.firstTokenMs! - r.startMs <= r.endMs - r.startMs, "TTFT <= E2E");
    assert.equal(r.tokenTimesMs!.length, r.outputTokens);
  }
}

function maxOverlap(records: readonly ScheduledRecord[]): number {
  const ev: [number, number][] = [];
  for (const r of records) ev.push([r.startMs, 1], [r.endMs, -1]);
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (cur += d));
  return max;
}

test("bench - closed loop keeps at most N in flight and every request gets exactly its output tokens", async () => {
  const requests = syntheticWorkload({ numRequests: 12, inputTokens: { kind: "uniform", min: 20, max: 80 }, outputTokens: { kind: "uniform", min: 2, max: 9 }, seed: 3 });
  const result = await runBench({ url: server.url, model: MODEL, requests, workload: { kind: "synthetic", inputTokens: "uniform:20:80", outputTokens: "uniform:2:9" }, mode: { kind: "concurrency", concurrency: 4 } });
  assert.equal(result.config.promptFormat, "tokens");
  assert.equal(result.config.forceLength, true);
  assertExact(result.records, requests);
  assert.ok(maxOverlap(result.records) <= 4);
  assert.equal(result.summary.count, 12);
  assert.equal(result.summary.failures, 0);
  assert.equal(result.wrongLength, 0);
  assert.equal(result.stoppedBy, "completed");
  assert.equal(result.summary.outputTokens, requests.reduce((s, r) => s + r.outputTokens, 0));
  assert.ok(result.summary.prefixHitRate !== undefined, "Turbine reports cached_tokens");
});

test("bench - Poisson arrivals are seeded: same seed same schedule, sent on schedule", async () => {
  const a = poissonArrivals(50, 100, 7);
  assert.deepEqual(a, poissonArrivals(50, 100, 7));
  assert.notDeepEqual(a, poissonArrivals(50, 100, 8));
  assert.equal(a[0], 0);
  for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!);
  const mean = poissonArrivals(20000, 100, 1)[19999]! / 19999;
  assert.ok(Math.abs(mean - 10) < 0.5, `mean gap ${mean} ms, want about 10`);

  const requests = syntheticWorkload({ numRequests: 10, inputTokens: { kind: "fixed", value: 32 }, outputTokens: { kind: "fixed", value: 4 }, seed: 1 });
  const client = new BenchHttpClient({ baseUrl: server.url, model: MODEL });
  try {
    const run = await runLoad({ client, requests, mode: { kind: "rate", requestsPerS: 200, seed: 7 } });
    assertExact(run.records, requests);
    const plan = poissonArrivals(10, 200, 7);
    for (const r of run.records) {
      assert.equal(r.scheduledMs, plan[r.index]);
      assert.ok(r.startMs >= r.scheduledMs! - 1, "not sent early");
      assert.ok(r.startMs - r.scheduledMs! < 200, "not sent much late");
    }
  } finally {
    client.close();
  }
});

test("bench - trace timing sends at the trace's scaled timestamps and shared hash ids hit the prefix cache", async () => {
  const path = join(dir, "trace.jsonl");
  const rows = [
    { timestamp: 0, input_length: 600, output_length: 3, hash_ids: [1, 2] },
    { timestamp: 200, input_length: 700, output_length: 5, hash_ids: [1, 3] },
    { timestamp: 400, input_length: 512, output_length: 4, hash_ids: [1] },
    { timestamp: 400, input_length: 300, output_length: 2, hash_ids: [9] },
  ];
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const requests = loadMooncakeTrace(path, { timeScale: 0.5 });
  const result = await runBench({ url: server.url, model: MODEL, requests, workload: { kind: "trace", path, start: 0, timeScale: 0.5 }, mode: { kind: "trace" } });
  assertExact(result.records, requests);
  const expected = [0, 100, 200, 200];
  for (const r of result.records) {
    assert.equal(r.scheduledMs, expected[r.index]);
    // Never early (the pacing); late only by what a loaded machine costs (a generous bound).
    assert.ok(r.startMs >= r.scheduledMs! - 1 && r.startMs - r.scheduledMs! < 1000, `request ${r.index} sent at ${r.startMs}, planned ${r.scheduledMs}`);
  }
  // Rows 1 and 2 share block 1 (512 tokens) with row 0, which finished long before.
  assert.ok((result.records[1]!.cachedTokens ?? 0) >= 496, `cached ${result.records[1]!.cachedTokens}`);
  assert.ok(result.summary.prefixHitRate! > 0);
});

test("bench - multi-turn sessions stay in order under concurrency and under Poisson arrivals", async () => {
  const requests = multiTurnWorkload({ numSessions: 3, turnsPerSession: 3, userTokens: { kind: "fixed", value: 20 }, assistantTokens: { kind: "fixed", value: 5 }, seed: 2 });
  const client = new BenchHttpClient({ baseUrl: server.url, model: MODEL });
  try {
    for (const mode of [{ kind: "concurrency", concurrency: 3 }, { kind: "rate", requestsPerS: 1000, seed: 1 }] as const) {
      const run = await runLoad({ client, requests, mode });
      assertExact(run.records, requests);
      for (const r of run.records) {
        const req = requests[r.index]!;
        if (req.turn === 0) continue;
        const prev = run.records.find((p) => requests[p.index]!.sessionId === req.sessionId && requests[p.index]!.turn === req.turn! - 1)!;
        assert.ok(r.startMs >= prev.endMs, `${mode.kind}: session ${req.sessionId} turn ${req.turn} started before its previous turn ended`);
      }
    }
  } finally {
    client.close();
  }
});

test("bench - failures are recorded, not thrown: closed port, wrong model (404), text fallback", async () => {
  const requests = sharedPrefixWorkload({ numGroups: 2, promptsPerGroup: 2, prefixTokens: { kind: "fixed", value: 32 }, suffixTokens: { kind: "fixed", value: 8 }, outputTokens: { kind: "fixed", value: 3 } });
  const workload = { kind: "shared-prefix", groups: 2, promptsPerGroup: 2, prefixTokens: "32", suffixTokens: "8", outputTokens: "3" } as const;
  // A port that was just free: nothing listens there.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));

  const closed = await runBench({ url: `http://127.0.0.1:${closedPort}`, model: MODEL, requests, workload, mode: { kind: "concurrency", concurrency: 2 } });
  assert.equal(closed.records.length, 4);
  assert.equal(closed.summary.failures, 4);
  for (const r of closed.records) {
    assert.equal(r.ok, false);
    assert.equal(r.status, 0);
    assert.match(r.error!, /connection error: ECONNREFUSED/);
  }
  assert.deepEqual(Object.values(closed.errors), [4]);

  const wrong = await runBench({ url: server.url, model: "no-such-model", requests, workload, mode: { kind: "rate", requestsPerS: 500, seed: 0 } });
  assert.equal(wrong.summary.failures, 4);
  for (const r of wrong.records) {
    assert.equal(r.status, 404);
    assert.match(r.error!, /^HTTP 404: /);
  }

  // Ids beyond the byte model's vocabulary: the probe falls back to text, which still works.
  const big = syntheticWorkload({ numRequests: 3, inputTokens: { kind: "fixed", value: 10 }, outputTokens: { kind: "fixed", value: 4 }, vocab: { min: 1000, max: 5000 } });
  const text = await runBench({ url: server.url, model: MODEL, requests: big, workload: { kind: "synthetic", inputTokens: "10", outputTokens: "4" }, mode: { kind: "concurrency", concurrency: 3 }, vocab: { min: 1000, max: 5000 } });
  assert.equal(text.config.promptFormat, "text");
  assert.equal(text.summary.failures, 0);
  for (const r of text.records) assert.equal(r.outputTokens, 4);
});

/** A scripted server: `handler` writes whatever the test needs. */
async function fakeServer(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

test("bench - SSE split across writes, packed chunks, a broken stream and a timeout", async () => {
  const chunk = (text: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
  const usage = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 3 } } })}\n\n`;
  const fake = await fakeServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d));
    req.on("end", () => {
      const b = JSON.parse(body) as { stream?: boolean; max_tokens: number };
      if (!b.stream) return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      res.writeHead(200, { "content-type": "text/event-stream" });
      if (b.max_tokens === 6) {
        // 6 tokens in 3 chunks (2 per chunk), split mid-event, CRLF on one event.
        const all = chunk("ab") + chunk("cd").replace(/\n\n$/, "\r\n\r\n") + chunk("ef") + usage + "data: [DONE]\n\n";
        let i = 0;
        const step = (): void => {
          if (i >= all.length) return void res.end();
          res.write(all.slice(i, i + 13));
          i += 13;
          setTimeout(step, 1);
        };
        step();
      } else if (b.max_tokens === 2) {
        res.write(chunk("x"));
        setTimeout(() => res.destroy(), 5);
      }
      // max_tokens 3: never answers (timeout).
    });
  });
  const client = new BenchHttpClient({ baseUrl: fake.url, model: "m", timeoutMs: 300 });
  try {
    const epochMs = performance.now();
    const packed = await client.send({ index: 0, tokenIds: [1, 2, 3, 4, 5, 6, 7], outputTokens: 6 }, { epochMs });
    assert.equal(packed.ok, true, packed.error);
    assert.equal(packed.outputTokens, 6);
    assert.equal(packed.chunkTimesMs.length, 3);
    assert.equal(packed.cachedTokens, 3);
    assert.equal(packed.tokenTimesMs!.length, 6);
    assert.equal(packed.tokenTimesMs![0], packed.chunkTimesMs[0]);
    assert.equal(packed.tokenTimesMs![5], packed.chunkTimesMs[2]);

    const broken = await client.send({ index: 1, tokenIds: [1], outputTokens: 2 }, { epochMs });
    assert.equal(broken.ok, false);
    assert.match(broken.error!, /broken stream|without \[DONE\]/);
    assert.equal(broken.outputTokens, 1);

    const slow = await client.send({ index: 2, tokenIds: [1], outputTokens: 3 }, { epochMs });
    assert.equal(slow.ok, false);
    assert.match(slow.error!, /^timeout after 0.3 s/);
    assert.ok(slow.endMs - slow.startMs >= 290);
  } finally {
    client.close();
    await fake.close();
  }
});

test("bench - a duration bound ends the run: nothing is sent after it and requests in flight are cancelled", async () => {
  const requests: WorkloadRequest[] = [
    { index: 0, arrivalMs: 0, tokenIds: [1, 2, 3], outputTokens: 2 },
    { index: 1, arrivalMs: 60_000, tokenIds: [1, 2, 3], outputTokens: 2 },
  ];
  const hang = await fakeServer(() => {
    /* never answers */
  });
  const client = new BenchHttpClient({ baseUrl: hang.url, model: "m" });
  try {
    const t0 = performance.now();
    const run = await runLoad({ client, requests, mode: { kind: "trace" }, durationMs: 200 });
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(run.stoppedBy, "duration");
    assert.equal(run.notSent, 1);
    assert.equal(run.records.length, 1);
    assert.equal(run.records[0]!.ok, false);
    assert.match(run.records[0]!.error!, /^cancelled: --duration reached/);
  } finally {
    client.close();
    await hang.close();
  }
});

test("bench - the command writes a JSON result whose every field docs/bench.md documents, and an HTML report", async () => {
  const json = join(dir, "result.json");
  const html = join(dir, "report.html");
  // The report goes to stdout (the test runner shows it as diagnostics).
  await buildProgram().parseAsync(
    ["bench", "--url", server.url, "--model", MODEL, "--num-requests", "6", "--input-tokens", "40", "--output-tokens", "uniform:2:5", "--concurrency", "2", "--slo-ttft", "1000", "--slo-itl", "100", "--json", json, "--html", html, "--no-progress"],
    { from: "user" },
  );
  const result = JSON.parse(readFileSync(json, "utf8")) as BenchResult;
  assert.equal(result.records.length, 6);
  assert.equal(result.summary.goodRequests, 6);
  assert.equal(result.config.sloTtftMs, 1000);
  const text = formatBenchText(result);
  assert.match(text, /\| TTFT +\|/);
  assert.match(text, /goodput +\d/);
  const docs = readFileSync(new URL("../../docs/bench.md", import.meta.url), "utf8");
  const documented = (name: string): boolean => docs.includes(`\`${name}\``);
  const keys = new Set<string>();
  const collect = (o: unknown, depth: number): void => {
    if (o === null || typeof o !== "object" || Array.isArray(o) || depth > 3) return;
    for (const [k, v] of Object.entries(o)) {
      keys.add(k);
      collect(v, depth + 1);
    }
  };
  collect({ ...result, records: undefined }, 0);
  for (const r of result.records) collect(r, 0);
  const missing = [...keys].filter((k) => !documented(k));
  assert.deepEqual(missing, [], "fields missing from docs/bench.md");
  const page = readFileSync(html, "utf8");
  assert.match(page, /<svg/);
});
