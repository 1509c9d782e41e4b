import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerCore, PolynomialTimingModel, TableTimingModel, stepDurationMs } from "../../../src/engines/mocker/index.ts";
import { makeRequest, range } from "./helpers.ts";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} ≈ ${b}`);

test("mocker timing - the default model is Dynamo's H100 fit", () => {
  const m = new PolynomialTimingModel();
  close(m.prefillMs(1000), 4.209989e-7 * 1e6 + 1.518344e-2 * 1000 + 16.50142);
  close(m.prefillMs(1000), 32.1058589, 1e-6);
  close(m.prefillMs(8192), 4.209989e-7 * 8192 ** 2 + 1.518344e-2 * 8192 + 16.50142);
  close(m.decodeMs(0.5), 26.31);
  close(m.decodeMs(0), 5.74);
  close(m.decodeMs(1), -25.74 + 54.01 + 5.74);
});

test("mocker timing - a step pays prefill when it prefills, plus decode when it decodes", () => {
  const m = new PolynomialTimingModel();
  assert.equal(stepDurationMs(m, { numPrefillTokens: 0, numDecodeSeqs: 0, kvUsage: 0.3 }), 0);
  close(stepDurationMs(m, { numPrefillTokens: 100, numDecodeSeqs: 0, kvUsage: 0.3 }), m.prefillMs(100));
  close(stepDurationMs(m, { numPrefillTokens: 0, numDecodeSeqs: 5, kvUsage: 0.3 }), m.decodeMs(0.3));
  close(stepDurationMs(m, { numPrefillTokens: 100, numDecodeSeqs: 5, kvUsage: 0.3 }), m.prefillMs(100) + m.decodeMs(0.3));
});

test("mocker timing - the core's steps follow the model with t new tokens and u the blocks in use", () => {
  const m = new PolynomialTimingModel();
  const core = new MockerCore({ blockSize: 4, numKvBlocks: 10, maxNumBatchedTokens: 64 });
  core.addRequest(makeRequest("a", range(1, 10), { maxTokens: 3 }), 0);
  close(core.step(0).durationMs, m.prefillMs(10)); // 3 blocks
  close(core.step(0).durationMs, m.decodeMs(3 / 10)); // KV for 11 tokens: still 3 blocks
  core.addRequest(makeRequest("b", [...range(1, 8), 90, 91], { maxTokens: 3 }), 0);
  // b reuses 2 cached blocks: 2 new tokens, and 4 blocks in use (a: 3, b: 1 more).
  close(core.step(0).durationMs, m.prefillMs(2) + m.decodeMs(4 / 10));
});

test("mocker timing - a table profile interpolates and extends its end segments", () => {
  const t = new TableTimingModel({
    prefill: { tokens: [1000, 0, 4000], ms: [30, 10, 150] },
    decode: { kvUsage: [0, 1], ms: [5, 25] },
  });
  close(t.prefillMs(0), 10);
  close(t.prefillMs(500), 20);
  close(t.prefillMs(2500), 90);
  close(t.prefillMs(7000), 150 + 3000 * (120 / 3000));
  close(t.decodeMs(0.25), 10);
  close(t.decodeMs(2), 45);
  close(t.decodeMs(-1), 0, 1e-9); // never negative
  close(new TableTimingModel({ prefill: { tokens: [1], ms: [7] }, decode: { kvUsage: [0], ms: [3] } }).prefillMs(99), 7);
  assert.throws(() => new TableTimingModel({ prefill: { tokens: [1, 1], ms: [1, 2] }, decode: { kvUsage: [0], ms: [1] } }), RangeError);
  assert.throws(() => new TableTimingModel({ prefill: { tokens: [], ms: [] }, decode: { kvUsage: [0], ms: [1] } }), RangeError);
});
