// The real part of bench:kvbm: TTFT of one long prompt on llama.cpp (a random-weight GGUF the
// project writes), recomputed against onboarded from G2 (the /dev/shm state cache), G3 (the
// KVBM's disk folder) and G4 (a real redis-server on loopback, read by a second engine that
// never saw the prompt). Each figure is the median of `reps` runs; ratios are recompute / tier.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LlamaCppEngine } from "../src/engines/index.ts";
import type { LlamaCppEngineOptions } from "../src/engines/index.ts";
import { writeRandomLlamaGguf } from "../src/model/index.ts";
import type { GgufPresetName } from "../src/model/index.ts";
import { asRequestId } from "../src/protocols/index.ts";
import { freePort, percentile, sortedCopy, stopChild } from "./support.ts";

export interface LlamaKvbmResult {
  preset: string;
  promptTokens: number;
  stateBytes: number;
  ms: { recompute: number; host: number; disk: number; remote: number };
}

async function ttft(engine: LlamaCppEngine, prompt: number[]): Promise<number> {
  const t0 = performance.now();
  const request = { requestId: asRequestId(`b-${Math.random()}`), model: "m", tokenIds: prompt, sampling: { temperature: 0 }, stop: { maxTokens: 1, stopTokenIds: [] } };
  let first = Number.NaN;
  for await (const o of engine.generate(request, { signal: new AbortController().signal })) if (o.tokenIds.length > 0 && Number.isNaN(first)) first = performance.now() - t0;
  return first;
}

const promptOf = (n: number, salt: number): number[] => {
  const ids = [1];
  for (let i = 1; i < n; i++) ids.push(300 + ((i * 31 + salt * 977 + ((i * i) % 13)) % 3000));
  return ids;
};

export async function benchLlamaKvbm(options: { preset?: GgufPresetName; promptTokens?: number; reps?: number; threads?: number } = {}): Promise<LlamaKvbmResult> {
  const preset = options.preset ?? "small";
  const n = options.promptTokens ?? 2000;
  const reps = options.reps ?? 3;
  const dir = mkdtempSync(join(tmpdir(), "bench-kvbm-"));
  const port = await freePort();
  const redis = spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  try {
    const modelPath = join(dir, "model.gguf");
    await writeRandomLlamaGguf(modelPath, { preset, seed: 0 });
    const base: LlamaCppEngineOptions = { modelPath, numSequences: 1, contextSize: 4096, threads: options.threads ?? 1 };
    const ms = { recompute: [] as number[], host: [] as number[], disk: [] as number[], remote: [] as number[] };
    let stateBytes = 0;
    const recompute = await LlamaCppEngine.create({ ...base, prefixCache: false });
    const host = await LlamaCppEngine.create(base);
    const disk = await LlamaCppEngine.create({ ...base, prefixCache: { maxBytes: 1 }, kvbm: { diskDir: join(dir, "g3"), offloadAll: true } });
    const writer = await LlamaCppEngine.create({ ...base, prefixCache: { maxBytes: 1 }, kvbm: { redisUrl: `redis://127.0.0.1:${port}`, offloadAll: true } });
    const reader = await LlamaCppEngine.create({ ...base, kvbm: { redisUrl: `redis://127.0.0.1:${port}` } });
    try {
      for (let i = 0; i < 100 && !(writer.kvbm!.redis!.isReady && reader.kvbm!.redis!.isReady); i++) await sleep(50);
      for (let r = 0; r < reps; r++) {
        const p = promptOf(n, 10 + r);
        const other = promptOf(n, 100 + r);
        ms.recompute.push(await ttft(recompute, p));
        // G2: the state saved by a first run loads back after another prompt took the sequence.
        await ttft(host, p);
        await ttft(host, other);
        const before = host.counters.numStateLoads;
        ms.host.push(await ttft(host, p));
        if (host.counters.numStateLoads !== before + 1) throw new Error("G2 run did not load a state");
        // G3: G2 holds one state; the next prompt's state evicts p's onto disk.
        await ttft(disk, p);
        await ttft(disk, other);
        await disk.flushOffloads();
        const d0 = disk.counters.numOnboardsDisk;
        ms.disk.push(await ttft(disk, p));
        if (disk.counters.numOnboardsDisk !== d0 + 1) throw new Error("G3 run did not onboard from disk");
        // G4: another engine stored p's state in Redis; this one never computed p.
        await ttft(writer, p);
        await ttft(writer, other);
        await writer.flushOffloads();
        const r0 = reader.counters.numOnboardsRemote;
        ms.remote.push(await ttft(reader, p));
        if (reader.counters.numOnboardsRemote !== r0 + 1) throw new Error("G4 run did not onboard from Redis");
        await ttft(reader, other); // the reader's sequence and G2 move on
      }
      stateBytes = disk.kvbmStats()!.bytes.disk;
    } finally {
      for (const e of [recompute, host, disk, writer, reader]) await e.close();
    }
    const med = (xs: number[]): number => percentile(sortedCopy(xs), 50);
    return { preset, promptTokens: n, stateBytes, ms: { recompute: med(ms.recompute), host: med(ms.host), disk: med(ms.disk), remote: med(ms.remote) } };
  } finally {
    await stopChild(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}
