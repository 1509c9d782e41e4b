// The layout rules of ARCHITECTURE.md, checked on the source tree: imports across folders go
// through front doors, dependencies point one way, and each folder's README maps its files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const SRC = new URL("../src/", import.meta.url).pathname;

// What each subsystem may import (besides itself). Pure folders stay pure.
const ALLOWED: Record<string, string[]> = {
  protocols: [],
  kv: ["protocols"],
  router: ["protocols", "kv"],
  planner: ["protocols", "kv", "router"],
  model: ["protocols"],
  runtime: ["protocols"],
  transfer: ["protocols", "runtime"],
  engines: ["protocols", "kv", "runtime", "model", "transfer", "kvbm"],
  kvbm: ["protocols", "kv", "runtime", "transfer"],
  frontend: ["protocols", "kv", "router", "runtime", "model"],
  bench: ["protocols", "kv", "router", "runtime", "model", "engines", "frontend", "kvbm"],
  cli: ["protocols", "kv", "router", "runtime", "model", "engines", "frontend", "bench", "transfer", "kvbm", "planner"],
};

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const areas = readdirSync(SRC).filter((d) => statSync(join(SRC, d)).isDirectory());

test("layout - every subsystem has a front door and a known place in the dependency order", () => {
  for (const area of areas) {
    assert.ok(existsSync(join(SRC, area, "index.ts")), `src/${area}/index.ts is missing`);
    assert.ok(area in ALLOWED, `src/${area} is not in the layout's dependency table`);
  }
});

test("layout - imports across folders go through front doors and point one way", () => {
  const problems: string[] = [];
  for (const area of areas) {
    for (const file of tsFiles(join(SRC, area))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/from\s+"(\.[^"]+)"/g)) {
        const target = join(file, "..", m[1]!);
        const rel = relative(SRC, target);
        if (rel.startsWith("..")) continue;
        const [targetArea, ...rest] = rel.split("/");
        if (targetArea === area) continue;
        const where = relative(SRC, file);
        if (rest.join("/") !== "index.ts") problems.push(`${where} imports ${rel}: use src/${targetArea}/index.ts`);
        if (!ALLOWED[area]?.includes(targetArea!)) problems.push(`${where} imports ${targetArea}, which ${area} may not depend on`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

function dirsWithTs(dir: string): string[] {
  const out: string[] = [];
  const names = readdirSync(dir);
  if (names.some((n) => n.endsWith(".ts"))) out.push(dir);
  for (const n of names) if (statSync(join(dir, n)).isDirectory()) out.push(...dirsWithTs(join(dir, n)));
  return out;
}

test("layout - each source folder's README lists exactly its files", () => {
  const problems: string[] = [];
  for (const dir of dirsWithTs(SRC)) {
    const where = `src/${relative(SRC, dir)}`;
    const readme = join(dir, "README.md");
    if (!existsSync(readme)) {
      problems.push(`${where}/README.md is missing`);
      continue;
    }
    const text = readFileSync(readme, "utf8");
    const listed = new Set([...text.matchAll(/`([\w.-]+\.ts)`/g)].map((m) => m[1]!));
    const files = readdirSync(dir).filter((n) => n.endsWith(".ts"));
    for (const f of files) if (!listed.has(f)) problems.push(`${where}/README.md does not mention ${f}`);
    for (const l of listed) if (!files.includes(l)) problems.push(`${where}/README.md mentions ${l}, which is not in the folder`);
  }
  assert.deepEqual(problems, []);
});
