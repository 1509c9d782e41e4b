// bench:llamacpp — what frontend + router + worker cost on top of llama.cpp. The same random
// GGUF model, the same prompts and settings (one sequence, one thread, greedy), measured in the
// same run: node-llama-cpp called directly, then through `turbine serve` (in-process, HTTP
// streaming). Then the prefix cache: TTFT of a 2,000-token prompt with and without a hit.
//   npm run bench:llamacpp [-- --preset tiny|small|100m] [--threads n]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama } from "node-llama-cpp";
import type { Token } from "node-llama-cpp";
import { EmbeddedServer } from "../src/cli/index.ts";
import type { LlamaCppEngine } from "../src/engines/index.ts";
import { writeRandomLlamaGguf } from "../src/model/index.ts";
import type { GgufPresetName } from "../src/model/index.ts";
import { fmt, machineLine, markdownTable } from "./support.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const at = args.indexOf(`--${name}`);
  return at !== -1 && args[at + 1] !== undefined ? args[at + 1]! : def;
};
const PRESET = flag("preset", "small") as GgufPresetName;
const THREADS = Number(flag("threads", "1"));
const PROMPT_TOKENS = 512;
const OUTPUT_TOKENS = 128;
const LONG_PROMPT = 2000;
const CONTEXT = 2304;
const REPEATS = 3;

function promptOf(n: number, salt: number): number[] {
  const ids = [1];
  for (let i = 1; i < n; i++) ids.push(300 + ((i * 7919 + salt * 104729) % 700));
  return ids;
}

interface Run {
  ttftMs: number;
  decodeTokPerS: number;
}

async function directRuns(path: string): Promise<Run[]> {
  const llama = await getLlama({ build: "never", gpu: false });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: CONTEXT, sequences: 1, threads: THREADS, batchSize: 512 });
  const seq = context.getSequence();
  const runs: Run[] = [];
  for (let r = 0; r <= REPEATS; r++) {
    await seq.clearHistory();
    const t0 = performance.now();
    let tFirst = 0;
    let n = 0;
    for await (const _t of seq.evaluate(promptOf(PROMPT_TOKENS, r) as Token[], { temperature: 0 })) {
      if (n === 0) tFirst = performance.now();
      if (++n >= OUTPUT_TOKENS) break;
    }
    const tEnd = performance.now();
    if (r > 0) runs.push({ ttftMs: tFirst - t0, decodeTokPerS: (n - 1) / ((tEnd - tFirst) / 1000) }); // run 0 warms up
  }
  await context.dispose();
  await model.dispose();
  return runs;
}

/** One streaming completion through HTTP: TTFT and decode rate seen by the client. */
async function httpRun(url: string, model: string, prompt: number[], maxTokens: number): Promise<Run & { tokens: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true }, ignore_eos: true }),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let tFirst = 0;
  let tokens = 0;
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n\n")) !== -1) {
      const event = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as { choices: unknown[]; usage?: { completion_tokens: number } };
      if (chunk.choices.length > 0 && tFirst === 0) tFirst = performance.now();
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  const tEnd = performance.now();
  return { ttftMs: tFirst - t0, decodeTokPerS: (tokens - 1) / ((tEnd - tFirst) / 1000), tokens };
}

async function serve(path: string, prefixCache: boolean): Promise<{ server: EmbeddedServer; model: string }> {
  const server = await EmbeddedServer.start({
    host: "127.0.0.1",
    port: 0,
    engine: "llamacpp",
    modelPath: path,
    numWorkers: 1,
    llamacpp: { numSequences: 1, contextSize: CONTEXT, threads: THREADS, prefixCache: prefixCache ? {} : false },
  });
  return { server, model: server.frontend.models.models()[0]!.card.name };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const dir = mkdtempSync(join(tmpdir(), "turbine-bench-llamacpp-"));
try {
  const path = join(dir, `${PRESET}.gguf`);
  const info = await writeRandomLlamaGguf(path, { preset: PRESET, seed: 0 });
  const direct = await directRuns(path);

  const { server, model } = await serve(path, false);
  const turbine: Run[] = [];
  for (let r = 0; r <= REPEATS; r++) {
    const run = await httpRun(server.url, model, promptOf(PROMPT_TOKENS, r), OUTPUT_TOKENS);
    if (run.tokens !== OUTPUT_TOKENS) throw new Error(`expected ${OUTPUT_TOKENS} tokens, got ${run.tokens}`);
    if (r > 0) turbine.push(run);
  }
  await server.close();

  // Prefix cache: a 2,000-token prompt cold, then a different one sharing all but its last 16 tokens.
  const cached = await serve(path, true);
  const engine = cached.server.workers[0]!.engine as LlamaCppEngine;
  const base = promptOf(LONG_PROMPT, 9);
  await httpRun(cached.server.url, cached.model, promptOf(64, 99), 4); // warm-up
  const miss = await httpRun(cached.server.url, cached.model, base, 4);
  const hitPrompt = [...base.slice(0, LONG_PROMPT - 16), ...promptOf(17, 77).slice(1)];
  const before = engine.counters.numEvaluatedPromptTokens;
  const hit = await httpRun(cached.server.url, cached.model, hitPrompt, 4);
  const evaluatedOnHit = engine.counters.numEvaluatedPromptTokens - before;
  await cached.server.close();

  const dPrompt = PROMPT_TOKENS / (mean(direct.map((r) => r.ttftMs)) / 1000);
  const tPrompt = PROMPT_TOKENS / (mean(turbine.map((r) => r.ttftMs)) / 1000);
  const dOut = mean(direct.map((r) => r.decodeTokPerS));
  const tOut = mean(turbine.map((r) => r.decodeTokPerS));
  process.stdout.write(
    `\n## bench:llamacpp (${PRESET}: ${(info.numParameters / 1e6).toFixed(1)}M parameters, F32, ${THREADS} thread(s), CPU)\n\n${machineLine()}\n\n` +
      markdownTable(
        ["metric", "node-llama-cpp direct", "Turbine (HTTP → router → worker)", "ratio"],
        [
          [`prompt tokens/s (${PROMPT_TOKENS}-token prompt, TTFT)`, fmt(dPrompt, 0), fmt(tPrompt, 0), fmt(tPrompt / dPrompt)],
          [`output tokens/s (${OUTPUT_TOKENS} tokens, greedy)`, fmt(dOut, 1), fmt(tOut, 1), fmt(tOut / dOut)],
        ],
      ) +
      "\n\n" +
      markdownTable(
        ["2,000-token prompt", "TTFT ms", "prompt tokens evaluated"],
        [
          ["prefix-cache miss", fmt(miss.ttftMs, 1), String(LONG_PROMPT)],
          ["prefix-cache hit (shares 1,984 tokens)", fmt(hit.ttftMs, 1), String(evaluatedOnHit)],
          ["ratio miss / hit", fmt(miss.ttftMs / hit.ttftMs, 1), ""],
        ],
      ) +
      "\n",
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
