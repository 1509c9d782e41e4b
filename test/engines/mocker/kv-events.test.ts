// Stored/removed events always describe exactly the prefix cache, and their hashes chain the
// way the router computes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MockerCore } from "../../../src/engines/mocker/index.ts";
import { chainSequenceHash, computeSequenceHashes } from "../../../src/kv/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { LocalBlockHash, SequenceHash } from "../../../src/protocols/index.ts";
import { EventRecorder, makeRequest } from "./helpers.ts";

type Op = { kind: "add"; base: number; len: number; max: number } | { kind: "cancel"; which: number } | { kind: "step"; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), base: fc.nat(3), len: fc.integer({ min: 1, max: 30 }), max: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant("cancel" as const), which: fc.nat(20) }),
  fc.record({ kind: fc.constant("step" as const), n: fc.integer({ min: 1, max: 6 }) }),
);

test("mocker kv events - stored and removed events match the prefix cache (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 8, max: 16 }),
      fc.integer({ min: 2, max: 4 }),
      fc.array(opArb, { minLength: 1, maxLength: 40 }),
      (numKvBlocks, blockSize, ops) => {
        const core = new MockerCore({ blockSize, numKvBlocks, maxNumBatchedTokens: 16, maxNumSeqs: 4 });
        const rec = new EventRecorder();
        const local = new Map<SequenceHash, { parent: SequenceHash | null; tokensHash: LocalBlockHash }>();
        core.onKvEvent((e) => {
          rec.listener(e);
          if (e.data.type === "stored") {
            let parent = e.data.parentHash;
            for (const b of e.data.blocks) {
              assert.equal(b.hash, chainSequenceHash(parent, b.tokensHash), "hashes chain from the parent");
              local.set(b.hash, { parent, tokensHash: b.tokensHash });
              parent = b.hash;
            }
          }
        });
        const ids: string[] = [];
        for (const op of ops) {
          if (op.kind === "add") {
            // Prompts from 4 families sharing prefixes: block-aligned reuse happens often.
            const tokens = Array.from({ length: op.len }, (_, i) => (op.base * 7 + (i < 8 ? 0 : i)) % 50);
            const id = `r${ids.length}`;
            ids.push(id);
            core.addRequest(makeRequest(id, tokens, { maxTokens: op.max }), 0);
            // The first blocks the engine stores for a fresh prompt are the router's hashes.
            const expected = computeSequenceHashes(tokens, blockSize);
            for (const h of expected) if (core.pool.isCached(h)) assert.ok(rec.blocks.has(h));
          } else if (op.kind === "cancel") {
            if (ids.length > 0) core.cancel(asRequestId(ids[op.which % ids.length]!));
          } else {
            for (let i = 0; i < op.n && core.hasWork(); i++) core.step(0);
          }
          assert.deepEqual(new Set(core.pool.cachedHashes()), rec.blocks);
          const load = core.load();
          let held = 0;
          for (const b of core.pool.blocks) {
            assert.ok(b.refCount >= 0);
            if (b.refCount > 0) held++;
          }
          assert.equal(load.activeBlocks, held);
          assert.equal(core.pool.numFreeBlocks + held, numKvBlocks);
        }
        for (let i = 0; i < 10_000 && core.hasWork(); i++) core.step(0);
        assert.equal(core.hasWork(), false);
        assert.equal(core.load().activeBlocks, 0, "every block returns to the pool");
        assert.deepEqual(new Set(core.pool.cachedHashes()), rec.blocks);
        // A dump of the cache agrees with the events too.
        for (const b of core.pool.cachedBlocks()) {
          assert.deepEqual(local.get(b.hash), { parent: b.parentHash, tokensHash: b.tokensHash });
        }
      },
    ),
    { numRuns: 150 },
  );
});
