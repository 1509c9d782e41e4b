// The KVBM policy against a brute-force model (arrays scanned end to end) under random
// sequences of store / use / lookup, and the tiers' KV events against the tiers' contents.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { asLocalBlockHash, asSequenceHash } from "../../src/protocols/index.ts";
import type { KvEventData, SequenceHash } from "../../src/protocols/index.ts";
import { deriveTierCredits, KvbmPolicy, planOnboard, SharedTier } from "../../src/kvbm/index.ts";
import type { LowerTier } from "../../src/kvbm/index.ts";

interface ModelEntry {
  key: number;
  bytes: number;
  uses: { n: number };
}

/** The spec, written the slow obvious way: arrays in LRU order, linear scans. */
class BruteForce {
  host: ModelEntry[] = [];
  disk: ModelEntry[] = [];
  remote: ModelEntry[] = [];
  constructor(
    readonly cap: Record<LowerTier, number>,
    readonly offloadAll: boolean,
  ) {}
  private sum(t: ModelEntry[]): number {
    return t.reduce((a, e) => a + e.bytes, 0);
  }
  private insert(tier: LowerTier, e: ModelEntry): ModelEntry[] {
    const list = this[tier];
    const at = list.findIndex((x) => x.key === e.key);
    if (at >= 0) {
      list.push(...list.splice(at, 1));
      return [];
    }
    if (e.bytes > this.cap[tier]) return [];
    list.push(e);
    const out: ModelEntry[] = [];
    while (this.sum(list) > this.cap[tier]) {
      const victim = list.find((x) => x !== e)!;
      list.splice(list.indexOf(victim), 1);
      out.push(victim);
    }
    return out;
  }
  store(key: number, bytes: number): void {
    const at = this.host.findIndex((x) => x.key === key);
    if (at >= 0) {
      this.host.push(...this.host.splice(at, 1));
      return;
    }
    for (const v of this.insert("host", { key, bytes, uses: { n: 0 } })) {
      if (v.uses.n >= 1 || this.offloadAll) {
        if (this.cap.disk > 0) this.insert("disk", v);
        if (this.cap.remote > 0) this.insert("remote", v);
      }
    }
  }
  use(key: number): void {
    const found: ModelEntry[] = [];
    for (const tier of ["host", "disk", "remote"] as const) {
      const list = this[tier];
      const at = list.findIndex((x) => x.key === key);
      if (at >= 0) {
        const [e] = list.splice(at, 1);
        list.push(e!);
        if (!found.some((f) => f.uses === e!.uses)) found.push(e!);
      }
    }
    for (const f of found) f.uses.n++;
  }
  locate(key: number): LowerTier | null {
    for (const tier of ["host", "disk", "remote"] as const) if (this[tier].some((x) => x.key === key)) return tier;
    return null;
  }
}

const h = (k: number): SequenceHash => asSequenceHash(BigInt(k));

type Op = { kind: "store"; key: number; bytes: number } | { kind: "use"; key: number } | { kind: "locate"; key: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("store" as const), key: fc.integer({ min: 1, max: 30 }), bytes: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("use" as const), key: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant("locate" as const), key: fc.integer({ min: 1, max: 30 }) }),
);

test("kvbm - the policy agrees with a brute-force model under random store/use/lookup sequences", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { minLength: 1, maxLength: 200 }),
      fc.record({ host: fc.integer({ min: 0, max: 120 }), disk: fc.integer({ min: 0, max: 120 }), remote: fc.integer({ min: 0, max: 120 }) }),
      fc.boolean(),
      (ops, cap, offloadAll) => {
        // Events per tier, replayed into sets: they must always equal the tier's contents.
        const seen: Record<LowerTier, Set<bigint>> = { host: new Set(), disk: new Set(), remote: new Set() };
        const apply = (tier: LowerTier, d: KvEventData): void => {
          if (d.type === "stored") for (const b of d.blocks) seen[tier].add(b.hash);
          else if (d.type === "removed") for (const x of d.hashes) seen[tier].delete(x);
        };
        const remote = cap.remote > 0 ? new SharedTier(cap.remote, (d) => apply("remote", d)) : null;
        const policy = new KvbmPolicy({ hostBytes: cap.host, diskBytes: cap.disk, remote, offloadAll, emit: apply });
        const model = new BruteForce(cap, offloadAll);
        for (const op of ops) {
          if (op.kind === "store") {
            // One-block entries of any size (a state store) through storeEntry; the model's
            // size per key is whatever the first store said, as for the policy.
            policy.storeEntry({ key: h(op.key), bytes: op.bytes, parentHash: null, hashes: [h(op.key)], tokensHashes: [asLocalBlockHash(1n)], numUses: 0 });
            model.store(op.key, op.bytes);
          } else if (op.kind === "use") {
            policy.recordUse([h(op.key)]);
            model.use(op.key);
          } else {
            assert.equal(policy.locate(h(op.key)), model.locate(op.key));
          }
        }
        for (const tier of ["host", "disk", "remote"] as const) {
          const lru = policy.tier(tier);
          const keys = lru === null ? [] : lru.keys().map(Number);
          assert.deepEqual(keys, model[tier].map((e) => e.key), `${tier} contents and LRU order`);
          assert.ok((lru?.bytes ?? 0) <= cap[tier], `${tier} within its bound`);
          assert.deepEqual([...seen[tier]].map(Number).sort((a, b) => a - b), [...keys].sort((a, b) => a - b), `${tier} events`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("kvbm - write-through to host, only reused blocks reach disk unless offloadAll", () => {
  for (const offloadAll of [false, true]) {
    const policy = new KvbmPolicy({ hostBytes: 2, diskBytes: 10, offloadAll });
    policy.storeBlocks(null, [h(1), h(2)], [asLocalBlockHash(1n), asLocalBlockHash(2n)], 1);
    policy.recordUse([h(1)]);
    policy.storeBlocks(h(2), [h(3), h(4)], [asLocalBlockHash(3n), asLocalBlockHash(4n)], 1);
    assert.deepEqual(policy.host.keys().map(Number), [3, 4]);
    assert.deepEqual(policy.disk!.keys().map(Number), offloadAll ? [2, 1] : [1]);
    assert.equal(policy.counters.dropped, offloadAll ? 0 : 1);
  }
});

test("kvbm - onboarding plans the leading run with the largest net saving", () => {
  const costs = { bytesPerBlock: 1e9, recomputeMsPerBlock: 100, gbps: { host: 25, disk: 5, remote: 10 } };
  // host 40 ms, disk 200 ms, remote 100 ms per block.
  const tiers: (LowerTier | null)[] = ["host", "host", "disk", "host", "host", "host", "host", null, "host"];
  const plan = planOnboard(0, tiers.length, (i) => tiers[i]!, costs);
  // Crossing the disk block costs 100 net and the four host blocks after it save 240.
  assert.equal(plan.numBlocks, 7);
  assert.deepEqual(plan.byTier, { host: 6, disk: 1, remote: 0 });
  assert.equal(plan.ms, 6 * 40 + 200);
  const slow = planOnboard(0, 3, () => "disk", costs);
  assert.equal(slow.numBlocks, 0, "a tier slower than recompute is never onboarded");
  assert.deepEqual(deriveTierCredits(costs), { device: 1, host: 0.6, disk: 0, remote: 0 });
});
