import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

for (const folder of ["openai-proxy", "kv-events-zmq"]) {
  test(`${folder} readme - its file map lists exactly the folder's .ts files`, () => {
    const dir = fileURLToPath(new URL(`../../../src/engines/${folder}/`, import.meta.url));
    const readme = readFileSync(dir + "README.md", "utf8");
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
    const listed = [...new Set([...readme.matchAll(/`([\w.-]+\.ts)`/g)].map((m) => m[1]!))].sort();
    assert.deepEqual(listed, files);
  });
}
