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
  admission: ["protocols"],
  runtime: ["protocols"],
  transfer: ["protocols", "runtime"],
  engines: ["protocols", "kv", "runtime", "model", "transfer", "kvbm"],
  kvbm: ["protocols", "kv", "runtime", "transfer"],
  frontend: ["protocols", "kv", "router", "runtime", "model", "admission"],
  bench: ["protocols", "kv", "router", "runtime", "model", "engines", "frontend", "admission"],
  cli: ["protocols", "kv", "router", "runtime", "model", "engines", "frontend", "bench", "transfer", "kvbm", "planner", "admission"],
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

// A fresh clone has nothing beside it: no source, test or benchmark may read a path outside the
// repository (a `../shared` beside the checkout, a developer's absolute path).
const ROOT = new URL("../", import.meta.url).pathname;
// Absolute paths into someone's machine (URL paths like "/v1/models" and system binaries are fine).
const MACHINE_PATH = /^\/(work|home|Users|root|mnt|srv|data|workspace)\//;

/** Problems in one file's text: path literals that leave the repository. */
export function pathsOutsideRepo(file: string, text: string): string[] {
  const problems: string[] = [];
  const where = relative(ROOT, file);
  for (const m of text.matchAll(/(["'`])((?:\.\.?\/|\/)[^"'`\s]*)\1/g)) {
    const literal = m[2]!;
    if (literal.startsWith("/")) {
      if (MACHINE_PATH.test(literal)) problems.push(`${where}: absolute path ${literal}`);
      continue;
    }
    if (literal.includes("${")) continue; // a template with parts: checked where its parts are
    const target = relative(ROOT, join(file, "..", literal));
    if (target.startsWith("..")) problems.push(`${where}: ${literal} resolves outside the repository`);
  }
  for (const m of text.matchAll(/\bjoin\([^)]*?["']\.\.["'][^)]*\)/g)) {
    // join(dir, "..", "..") climbing from a file's own folder past the root
    const ups = [...m[0].matchAll(/["']\.\.["']/g)].length;
    const depth = where.split("/").length - 1;
    if (/import\.meta/.test(m[0]) || /__dirname/.test(m[0])) if (ups > depth) problems.push(`${where}: ${m[0]} climbs out of the repository`);
  }
  return problems;
}

test("layout - no source, test or benchmark reads a path outside the repository", () => {
  const problems: string[] = [];
  for (const top of ["src", "test", "bench", "bin"]) {
    const dir = join(ROOT, top);
    if (!existsSync(dir)) continue;
    const files = [...tsFiles(dir), ...readdirSync(dir).filter((n) => n.endsWith(".js")).map((n) => join(dir, n))];
    for (const file of files) {
      if (file === new URL(import.meta.url).pathname) continue; // this test names what it forbids
      problems.push(...pathsOutsideRepo(file, readFileSync(file, "utf8")));
    }
  }
  assert.deepEqual(problems, []);
});

test("layout - the outside-path check catches ../shared, absolute paths and climbing joins", () => {
  const f = join(ROOT, "test", "bench", "x.test.ts");
  assert.equal(pathsOutsideRepo(f, `new URL("../../../shared/traces/t.jsonl", import.meta.url)`).length, 1);
  assert.equal(pathsOutsideRepo(f, `readFileSync("/work/shared/traces/t.jsonl")`).length, 1);
  assert.equal(pathsOutsideRepo(f, `join(import.meta.dirname, "..", "..", "..", "x")`).length, 1);
  assert.deepEqual(pathsOutsideRepo(f, `new URL("../../bench/data/t.jsonl", import.meta.url); spawn("/usr/bin/etcd")`), []);
});
