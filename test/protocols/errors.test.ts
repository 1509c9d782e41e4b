import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ERROR_CODES, TurbineError } from "../../src/protocols/index.ts";

test("protocols - every error code is documented in docs/errors.md with its status and type", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = new Map<string, { status: number; type: string }>();
  for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (\w+) \|/gm)) rows.set(m[1]!, { status: Number(m[2]), type: m[3]! });
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, info] of Object.entries(ERROR_CODES)) assert.deepEqual(rows.get(code), { status: info.status, type: info.type }, code);
});

test("protocols - TurbineError carries code, status, type, param and cause", () => {
  const cause = new Error("root");
  const e = new TurbineError("MODEL_NOT_FOUND", "no such model", { param: "model", cause });
  assert.equal(e.code, "MODEL_NOT_FOUND");
  assert.equal(e.status, 404);
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.param, "model");
  assert.equal(e.cause, cause);
  assert.ok(e instanceof Error);
});
