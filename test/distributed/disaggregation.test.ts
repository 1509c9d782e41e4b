// Disaggregated serving across processes: prefill and decode workers in their own processes,
// the KV moving between them through the transfer library.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeRandomLlamaGguf } from "../../src/model/index.ts";
import { complete, health, remotePrefills, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";
import type { Completion, TurbineProcess } from "../support/fleet.ts";

/**
 * A worker's KV-transfer counter from its own /metrics (its ready line names the URL), summed
 * over the label values: local prefill gives the same tokens, so only this shows the transfer ran.
 */
async function workerCounter(worker: TurbineProcess, name: string, labels = ""): Promise<number> {
  const url = /metrics at (\S+)\/metrics/.exec(worker.readyLine)![1]!;
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)`, "gm"))) if (m[1]!.includes(labels)) n += Number(m[2]);
  return n;
}

const greedy = (url: string, model: string, prompt: string, maxTokens: number): Promise<Completion> =>
  complete(url, { model, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true });

describe("distributed - disaggregated prefill and decode", () => {
  const fx = useCluster();

  test("distributed - llama.cpp prefill and decode workers in separate processes give the tokens of aggregated serving", async () => {
    const gguf = join(fx.dir, "tiny.gguf");
    await writeRandomLlamaGguf(gguf, { preset: "tiny", seed: 21 });
    const llama = ["--engine", "llamacpp", "--model", gguf];
    const prefill = fx.track(await startWorker(fx.cluster, [...llama, "--model-name", "split", "--role", "prefill"]));
    const decode = fx.track(await startWorker(fx.cluster, [...llama, "--model-name", "split", "--role", "decode"]));
    fx.track(await startWorker(fx.cluster, [...llama, "--model-name", "whole"]));
    const f = await startFrontend(fx.cluster, ["--max-local-prefill-tokens", "0"]);
    fx.track(f);
    await until(
      "the split and whole models",
      () => health(f.id),
      (h) => {
        const split = h.find((m) => m.model === "split") as { workers: number; prefillWorkers?: number } | undefined;
        return split?.workers === 1 && split.prefillWorkers === 1 && h.find((m) => m.model === "whole")?.workers === 1;
      },
    );
    const prompts = ["The quick brown fox jumps over the lazy dog. ".repeat(6), "Once upon a time, in a land far away, ".repeat(5), "0123456789 ".repeat(12)];
    for (const prompt of prompts) {
      const whole = await greedy(f.id, "whole", prompt, 24);
      const split = await greedy(f.id, "split", prompt, 24);
      assert.equal(whole.status, 200);
      assert.equal(split.status, 200);
      assert.equal(split.text, whole.text, "token-identical to aggregated serving");
    }
    assert.equal(await remotePrefills(f.id, "split", "ok"), prompts.length, "every prompt was prefilled on the prefill worker");
    assert.equal(await remotePrefills(f.id, "split", "failed"), 0);
    // The KV really moved: the prefill worker exported it and the decode worker imported it,
    // never falling back to its own prefill.
    assert.equal(await workerCounter(prefill, "turbine_kv_transfers_total", `direction="export"`), prompts.length);
    assert.equal(await workerCounter(decode, "turbine_worker_kv_imports_total"), prompts.length);
    assert.equal(await workerCounter(decode, "turbine_worker_kv_import_fallbacks_total"), 0);
  });

  test("distributed - prefill-heavy mocker traffic flows through prefill and decode workers", async () => {
    const mock = ["--engine", "mocker", "--model-name", "heavy", "--speedup", "50", "--kv-bytes-per-token", "16384"];
    const prefill = await startWorker(fx.cluster, [...mock, "--role", "prefill"]);
    const decode = await startWorker(fx.cluster, [...mock, "--role", "decode"]);
    fx.track(prefill);
    fx.track(decode);
    const f = await startFrontend(fx.cluster, ["--max-local-prefill-tokens", "1000", "--max-prefill-queue-tokens", "100000"]);
    fx.track(f);
    await until("the heavy model", () => health(f.id), (h) => (h.find((m) => m.model === "heavy") as { prefillWorkers?: number } | undefined)?.prefillWorkers === 1 && h.find((m) => m.model === "heavy")?.workers === 1);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => greedy(f.id, "heavy", `document ${i} `.repeat(300), 8)));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.text.length, 8);
      assert.equal(r.worker, decode.id, "tokens come from the decode worker");
    }
    assert.equal(await remotePrefills(f.id, "heavy", "ok"), 6, "every long prompt went through the prefill worker");
    assert.equal(await workerCounter(decode, "turbine_worker_kv_imports_total"), 6, "and its KV reached the decode worker");
    assert.equal(await workerCounter(decode, "turbine_worker_kv_import_fallbacks_total"), 0);
    // A short prompt is prefilled on the decode worker (the conditional rule).
    assert.equal((await greedy(f.id, "heavy", "short", 4)).status, 200);
    assert.equal(await remotePrefills(f.id, "heavy", "ok"), 6);
    // The prefill worker killed: requests are served aggregated by the decode worker.
    prefill.kill("SIGKILL");
    const after = await greedy(f.id, "heavy", "after the prefill worker died ".repeat(100), 4);
    assert.equal(after.status, 200);
    assert.equal(after.text.length, 4);
  });
});
