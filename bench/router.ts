// Router benchmark: KV event ingestion into the RadixIndexer (stored blocks/s) and the cost of
// Router.route with the kv policy (hashing, findMatches, scheduling) for 4k- and 32k-token
// prompts over 16, 128 and 1024 workers, with 1M (worker, block) entries in the index.
// Also: hashing a prompt into block hashes, the TypeScript XXH3 against the N-API reference
// (two @node-rs/xxhash calls per block), alternated call by call in one run.
// Single-threaded. Prints markdown tables. Run: node --import tsx bench/router.ts
// (BENCH_ROUTER_HASH_ONLY=1: the prompt-hashing table alone, in seconds instead of minutes.)
import { RadixIndexer, computeSequenceHashes, computeSequenceHashesReference } from "../src/kv/index.ts";
import { asLocalBlockHash, asRequestId, asSequenceHash, asWorkerId } from "../src/protocols/index.ts";
import type { KvCacheEvent, SequenceHash, StoredBlock, WorkerId } from "../src/protocols/index.ts";
import { Router, createSeededRandom } from "../src/router/index.ts";

const BLOCK_SIZE = 16;
const INDEX_ENTRIES = 1_000_000;
const WORKER_COUNTS = [16, 128, 1024];
const NUM_FAMILIES = 32; // shared documents (system prompts, RAG corpora) prompts start with
const FAMILY_TOKENS = 32 * 1024;
const EVENT_BLOCKS = 32; // blocks per stored event
const TAIL_BLOCKS = 64; // unique blocks after a shared prefix in each stored sequence
const HASH_ONLY = process.env["BENCH_ROUTER_HASH_ONLY"] === "1";
const PROMPTS = [
  { tokens: 4 * 1024, iterations: 2000 },
  { tokens: 32 * 1024, iterations: 200 },
];

const rng = createSeededRandom(2024);
const randInt = (n: number): number => Math.floor(rng.next() * n);
let synthetic = 0x1234_5678_9abc_def0n;
/** A unique synthetic sequence hash (splitmix64 counter). */
function nextHash(): SequenceHash {
  synthetic = (synthetic + 0x9e3779b97f4a7c15n) & 0xffff_ffff_ffff_ffffn;
  let z = synthetic;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffff_ffff_ffff_ffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffff_ffff_ffff_ffffn;
  return asSequenceHash(z ^ (z >> 31n));
}

const familyTokens: number[][] = [];
const familyHashes: SequenceHash[][] = [];
for (let f = 0; f < NUM_FAMILIES; f++) {
  const t = Array.from({ length: FAMILY_TOKENS }, (_, i) => (f * 7919 + i * 31) % 151_000);
  familyTokens.push(t);
  familyHashes.push(computeSequenceHashes(t, BLOCK_SIZE));
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Generates the stored events of one worker's sequences until it holds `budget` blocks. */
function* workerEvents(workerId: WorkerId, budget: number): Generator<KvCacheEvent> {
  let eventId = 0;
  let held = 0;
  while (held < budget) {
    const family = familyHashes[randInt(NUM_FAMILIES)]!;
    const prefix = Math.min(family.length, 64 + randInt(family.length - 64), Math.max(1, budget - held - TAIL_BLOCKS));
    const tail = Math.max(0, Math.min(TAIL_BLOCKS, budget - held - prefix));
    const chain: SequenceHash[] = family.slice(0, prefix);
    for (let i = 0; i < tail; i++) chain.push(nextHash());
    for (let start = 0; start < chain.length; start += EVENT_BLOCKS) {
      const blocks: StoredBlock[] = [];
      for (let i = start; i < Math.min(chain.length, start + EVENT_BLOCKS); i++) {
        blocks.push({ hash: chain[i]!, tokensHash: asLocalBlockHash(chain[i]!) });
      }
      yield {
        workerId,
        eventId: eventId++,
        tier: "device",
        data: { type: "stored", parentHash: start === 0 ? null : chain[start - 1]!, blocks },
      };
    }
    held += chain.length;
  }
}

interface Row {
  workers: number;
  prompt: string;
  hash: [number, number];
  match: [number, number];
  schedule: [number, number];
  total: [number, number];
  matching: number;
}

// Prompt hashing: each iteration hashes one prompt both ways (order alternating), so both
// paths see the same machine load.
const HASH_CASES = [
  { tokens: 4 * 1024, blockSize: 16, iterations: 3000 },
  { tokens: 32 * 1024, blockSize: 16, iterations: 300 },
  { tokens: 4 * 1024, blockSize: 32, iterations: 3000 },
  { tokens: 4 * 1024, blockSize: 64, iterations: 1000 }, // 256-byte blocks: N-API on both paths
];
interface HashRow {
  tokens: number;
  blockSize: number;
  ts: [number, number];
  native: [number, number];
}
const hashRows: HashRow[] = [];
for (const { tokens, blockSize, iterations } of HASH_CASES) {
  const tsUs = new Float64Array(iterations);
  const nativeUs = new Float64Array(iterations);
  const warmup = 200;
  for (let it = -warmup; it < iterations; it++) {
    const family = familyTokens[randInt(NUM_FAMILIES)]!;
    const prompt = family.slice(0, tokens - 64);
    for (let i = prompt.length; i < tokens; i++) prompt.push(150_000 + randInt(1000));
    let a: SequenceHash[], b: SequenceHash[];
    let tTs: number, tNative: number;
    if ((it & 1) === 0) {
      const t0 = performance.now();
      a = computeSequenceHashes(prompt, blockSize);
      const t1 = performance.now();
      b = computeSequenceHashesReference(prompt, blockSize);
      tTs = t1 - t0;
      tNative = performance.now() - t1;
    } else {
      const t0 = performance.now();
      b = computeSequenceHashesReference(prompt, blockSize);
      const t1 = performance.now();
      a = computeSequenceHashes(prompt, blockSize);
      tNative = t1 - t0;
      tTs = performance.now() - t1;
    }
    if (a[a.length - 1] !== b[b.length - 1]) throw new Error(`hash mismatch at ${tokens} tokens, block size ${blockSize}`);
    if (it < 0) continue;
    tsUs[it] = tTs * 1000;
    nativeUs[it] = tNative * 1000;
  }
  tsUs.sort();
  nativeUs.sort();
  hashRows.push({
    tokens,
    blockSize,
    ts: [percentile(tsUs, 0.5), percentile(tsUs, 0.99)],
    native: [percentile(nativeUs, 0.5), percentile(nativeUs, 0.99)],
  });
}

const ingestRows: { workers: number; blocks: number; seconds: number }[] = [];
const rows: Row[] = [];
const started = performance.now();

for (const numWorkers of HASH_ONLY ? [] : WORKER_COUNTS) {
  const indexer = new RadixIndexer();
  const workers = Array.from({ length: numWorkers }, (_, i) => asWorkerId(`worker-${i}`));
  // Generate in batches and time only applyEvent.
  let applyMs = 0;
  let stored = 0;
  const perWorker = Math.ceil(INDEX_ENTRIES / numWorkers);
  const batch: KvCacheEvent[] = [];
  const flush = (): void => {
    const t0 = performance.now();
    for (let i = 0; i < batch.length; i++) indexer.applyEvent(batch[i]!);
    applyMs += performance.now() - t0;
    for (const e of batch) if (e.data.type === "stored") stored += e.data.blocks.length;
    batch.length = 0;
  };
  for (const w of workers) {
    for (const e of workerEvents(w, perWorker)) {
      batch.push(e);
      if (batch.length >= 2048) flush();
    }
  }
  flush();
  ingestRows.push({ workers: numWorkers, blocks: stored, seconds: applyMs / 1000 });

  const router = new Router({ blockSize: BLOCK_SIZE, indexer, policy: "kv", random: createSeededRandom(1) });
  for (const w of workers) router.addWorker(w, { totalBlocks: 65_536 });
  // Some standing load so that scheduling sees unequal workers.
  for (let i = 0; i < numWorkers * 2; i++) {
    router.route({ requestId: asRequestId(`load-${i}`), tokenIds: familyTokens[i % NUM_FAMILIES]!.slice(0, 512) }, 0);
  }

  for (const { tokens, iterations } of PROMPTS) {
    const hashUs = new Float64Array(iterations);
    const matchUs = new Float64Array(iterations);
    const scheduleUs = new Float64Array(iterations);
    const totalUs = new Float64Array(iterations);
    let matching = 0;
    // A family prefix (7/8 of the prompt) and a unique suffix, like a RAG or multi-turn prompt.
    const prefixLen = Math.floor((tokens * 7) / 8);
    const warmup = Math.min(50, iterations / 4);
    for (let it = -warmup; it < iterations; it++) {
      const family = familyTokens[randInt(NUM_FAMILIES)]!;
      const prompt = family.slice(0, prefixLen);
      for (let i = prefixLen; i < tokens; i++) prompt.push(150_000 + randInt(1000));
      const requestId = asRequestId(`q-${it}`);
      const d = router.route({ requestId, tokenIds: prompt }, 0);
      router.markFinished(requestId);
      if (it < 0) continue;
      hashUs[it] = d.timings.hashUs;
      matchUs[it] = d.timings.matchUs;
      scheduleUs[it] = d.timings.scheduleUs;
      totalUs[it] = d.timings.matchUs + d.timings.scheduleUs;
      if (d.overlapBlocks > 0) matching++;
    }
    for (const a of [hashUs, matchUs, scheduleUs, totalUs]) a.sort();
    const pair = (a: Float64Array): [number, number] => [percentile(a, 0.5), percentile(a, 0.99)];
    rows.push({
      workers: numWorkers,
      prompt: `${tokens / 1024}k`,
      hash: pair(hashUs),
      match: pair(matchUs),
      schedule: pair(scheduleUs),
      total: pair(totalUs),
      matching: matching / iterations,
    });
  }
}

const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const lines: string[] = [];
if (!HASH_ONLY) {
  lines.push(`Router benchmark (node ${process.version}, single thread, block size ${BLOCK_SIZE}, ~1M blocks in the index)`);
  lines.push("");
  lines.push("| workers | stored blocks | stored blocks/s |");
  lines.push("| ---: | ---: | ---: |");
  for (const r of ingestRows) {
    lines.push(`| ${r.workers} | ${r.blocks.toLocaleString("en-US")} | ${(r.blocks / r.seconds / 1e6).toFixed(2)} M |`);
  }
  lines.push("");
  lines.push("Latency per `Router.route` (kv policy), µs, p50 / p99. *match + schedule* is the routing target (< 200 µs p99 at 4k, 1024 workers); hashing is reported apart.");
  lines.push("");
  lines.push("| workers | prompt | hash | findMatches | schedule | match + schedule | requests with a hit |");
  lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const c = (p: [number, number]): string => `${f(p[0])} / ${f(p[1])}`;
    lines.push(
      `| ${r.workers} | ${r.prompt} | ${c(r.hash)} | ${c(r.match)} | ${c(r.schedule)} | ${c(r.total)} | ${(r.matching * 100).toFixed(0)}% |`,
    );
  }
  lines.push("");
}
lines.push("Hashing a prompt into sequence hashes (`computeSequenceHashes`), µs per prompt, p50 / p99: TypeScript XXH3 against two @node-rs/xxhash N-API calls per block, alternated in one run.");
lines.push("");
lines.push("| prompt tokens | block size | blocks | TypeScript | N-API reference | speed-up (p50) |");
lines.push("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of hashRows) {
  const c = (p: [number, number]): string => `${f(p[0])} / ${f(p[1])}`;
  lines.push(
    `| ${r.tokens} | ${r.blockSize} | ${Math.floor(r.tokens / r.blockSize)} | ${c(r.ts)} | ${c(r.native)} | ${(r.native[0] / r.ts[0]).toFixed(1)}× |`,
  );
}
lines.push("");
lines.push(`Total run time ${((performance.now() - started) / 1000).toFixed(1)} s.`);
console.log(lines.join("\n"));
