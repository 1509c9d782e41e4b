import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../../src/router/", import.meta.url));

test("router readme - the file map lists exactly the folder's .ts files", () => {
  const readme = readFileSync(`${dir}README.md`, "utf8");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  for (const f of files) assert.ok(readme.includes(`\`${f}\``), `README.md does not mention \`${f}\``);
  const listed = [...readme.matchAll(/`([a-z0-9-]+\.ts)`/g)].map((m) => m[1]!);
  for (const f of listed) assert.ok(files.includes(f), `README.md lists \`${f}\`, which does not exist`);
});
