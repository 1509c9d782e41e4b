// One suite over every KvIndexer: the prefix-match semantics both indexers must share.
// Each implementation supplies how a worker comes to hold a chain of blocks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { asSequenceHash, asWorkerId } from "../../src/protocols/index.ts";
import type { SequenceHash, WorkerId } from "../../src/protocols/index.ts";
import type { KvIndexer } from "../../src/kv/index.ts";

export interface IndexerHarness {
  indexer: KvIndexer;
  /** Makes `workerId` hold `hashes` (a chain, each block the child of the one before) on device. */
  store(workerId: WorkerId, hashes: SequenceHash[]): void;
}

export const h = (...ns: number[]): SequenceHash[] => ns.map((n) => asSequenceHash(BigInt(n)));
const A = asWorkerId("a");
const B = asWorkerId("b");

export function indexerSuite(name: string, make: () => IndexerHarness): void {
  test(`${name} - empty index and empty query match nothing`, () => {
    const { indexer, store } = make();
    assert.equal(indexer.findMatches(h(1, 2)).size, 0);
    store(A, h(1, 2));
    assert.equal(indexer.findMatches([]).size, 0);
    assert.equal(indexer.findMatches(h(3, 1, 2)).size, 0);
  });

  test(`${name} - counts leading blocks per worker and stops at the first missing one`, () => {
    const { indexer, store } = make();
    store(A, h(1, 2, 3, 4));
    store(B, h(1, 2));
    store(B, h(4)); // held, but after a hole: not counted
    const m = indexer.findMatches(h(1, 2, 3, 4, 5));
    assert.deepEqual(m.get(A), { numBlocks: 4, byTier: { device: 4, host: 0, disk: 0, remote: 0 } });
    assert.deepEqual(m.get(B), { numBlocks: 2, byTier: { device: 2, host: 0, disk: 0, remote: 0 } });
    assert.equal(m.size, 2);
    assert.equal(indexer.size, 7);
  });

  test(`${name} - only workers holding the first block are reported`, () => {
    const { indexer, store } = make();
    store(A, h(1, 2));
    store(B, h(2, 3));
    const m = indexer.findMatches(h(1, 2, 3));
    assert.deepEqual([...m.keys()], [A]);
    assert.equal(m.get(A)!.numBlocks, 2);
  });

  test(`${name} - removeWorker drops all its blocks`, () => {
    const { indexer, store } = make();
    store(A, h(1, 2, 3));
    store(B, h(1, 2));
    indexer.removeWorker(A);
    const m = indexer.findMatches(h(1, 2, 3));
    assert.deepEqual([...m.keys()], [B]);
    assert.equal(indexer.size, 2);
    indexer.removeWorker(asWorkerId("never-seen"));
    assert.equal(indexer.size, 2);
  });

  test(`${name} - many workers sharing a long prefix, each diverging at its own depth`, () => {
    const { indexer, store } = make();
    const common = h(...Array.from({ length: 64 }, (_, i) => 1000 + i));
    for (let w = 0; w < 40; w++) store(asWorkerId(`w${w}`), common.slice(0, 10 + w));
    const m = indexer.findMatches(common);
    assert.equal(m.size, 40);
    for (let w = 0; w < 40; w++) assert.equal(m.get(asWorkerId(`w${w}`))!.numBlocks, 10 + w);
  });
}
