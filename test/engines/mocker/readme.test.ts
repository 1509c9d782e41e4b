import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../../../src/engines/mocker/", import.meta.url));

test("mocker readme - the file map lists exactly the folder's .ts files", () => {
  const readme = readFileSync(`${dir}README.md`, "utf8");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  const mapped = [...new Set([...readme.matchAll(/^\| `([\w-]+\.ts)` \|/gm)].map((m) => m[1]!))].sort();
  assert.deepEqual(mapped, files);
  for (const f of files) assert.ok(readme.includes(`\`${f}\``), `${f} appears in the README`);
});
