// Small random GGUF models for tests, written once per process into a temp folder.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeRandomLlamaGguf } from "../../src/model/index.ts";
import type { RandomLlamaOptions } from "../../src/model/index.ts";

const dir = mkdtempSync(join(tmpdir(), "turbine-gguf-"));
process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
const written = new Map<string, Promise<string>>();

/** Path of a random llama GGUF (tiny preset, seed 1 by default), written on first use. */
export function randomGguf(options: RandomLlamaOptions = {}): Promise<string> {
  const key = JSON.stringify(options);
  let path = written.get(key);
  if (path === undefined) {
    const file = join(dir, `model-${written.size}.gguf`);
    path = writeRandomLlamaGguf(file, { preset: "tiny", seed: 1, ...options }).then(() => file);
    written.set(key, path);
  }
  return path;
}
