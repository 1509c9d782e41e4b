import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../../src/kv/", import.meta.url));

test("kv readme - its file map lists exactly the folder's .ts files", () => {
  const readme = readFileSync(dir + "README.md", "utf8");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  const listed = [...new Set([...readme.matchAll(/`([\w.-]+\.ts)`/g)].map((m) => m[1]!))].sort();
  assert.deepEqual(listed, files);
});
