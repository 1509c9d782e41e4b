import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { LlamaCppEngine } from "../../../src/engines/index.ts";
import type { LlamaCppKvExport } from "../../../src/engines/index.ts";
import { TurbineError } from "../../../src/protocols/index.ts";
import { randomGguf } from "../../support/gguf.ts";
import { greedy, promptOf } from "../../support/llamacpp.ts";

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("./kv-export-child.ts", import.meta.url));

test("llamacpp - KV exported by another process continues with the tokens one process produces; wrong KV differs", async () => {
  const path = await randomGguf();
  const prompt = promptOf(150, 1);
  const other = promptOf(150, 2);
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD, path, JSON.stringify([prompt, other])], { timeout: 30_000 });
  const [kv, wrong] = stdout
    .trim()
    .split("\n")
    .map((line) => {
      const j = JSON.parse(line) as Omit<LlamaCppKvExport, "state"> & { state: string; pid: number };
      assert.notEqual(j.pid, process.pid);
      return { ...j, state: new Uint8Array(Buffer.from(j.state, "base64")) };
    });
  assert.deepEqual(kv!.tokenIds, prompt.slice(0, -1));
  assert.ok(kv!.state.length > 1000);

  // Reference: this process alone, no cache.
  const alone = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512, prefixCache: false });
  const want = await greedy(alone, prompt, 16);
  await alone.close();

  const importer = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512 });
  try {
    const stored: number[] = [];
    importer.onKvEvent((e) => {
      if (e.data.type === "stored") stored.push(e.data.blocks.length);
    });
    importer.importKv(kv!);
    assert.deepEqual(stored, [Math.floor(149 / 16)], "the imported blocks are published");
    const got = await greedy(importer, prompt, 16);
    assert.deepEqual(got, want);
    assert.equal(importer.counters.numEvaluatedPromptTokens, 1, "only the last prompt token was evaluated");
    assert.equal(importer.counters.numStateLoads, 1);
  } finally {
    await importer.close();
  }

  // Control: the other prompt's KV under this prompt's tokens.
  const control = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512 });
  try {
    control.importKv({ ...wrong!, tokenIds: prompt.slice(0, -1) });
    const got = await greedy(control, prompt, 16);
    assert.equal(control.counters.numEvaluatedPromptTokens, 1);
    assert.notDeepEqual(got, want);
  } finally {
    await control.close();
  }
  // An engine with other settings refuses the bytes.
  const mismatched = await LlamaCppEngine.create({ modelPath: path, numSequences: 3, contextSize: 512 });
  try {
    assert.throws(() => mismatched.importKv(kv!), (e: unknown) => e instanceof TurbineError && e.code === "REQUEST_INVALID");
  } finally {
    await mismatched.close();
  }
});
