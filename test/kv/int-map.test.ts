import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
// The int map is internal to kv (not on the front door); its test reaches it directly.
// eslint-disable-next-line no-restricted-imports
import { IntMap } from "../../src/kv/int-map.ts";

test("kv int map - behaves as a Map under random set/delete sequences", () => {
  const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.nat(1000));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const m = new IntMap();
      const ref = new Map<number, number>();
      for (const [isSet, k, v] of ops) {
        if (isSet) {
          m.set(k, v);
          ref.set(k, v);
        } else {
          assert.equal(m.delete(k), ref.delete(k));
        }
        assert.equal(m.size, ref.size);
      }
      for (let k = 0; k <= 300; k++) assert.equal(m.get(k), ref.get(k) ?? -1);
      assert.deepEqual([...m.keySnapshot()].sort((a, b) => a - b), [...ref.keys()].sort((a, b) => a - b));
      m.clear();
      assert.equal(m.size, 0);
      assert.equal(m.get(ops[0]?.[1] ?? 0), -1);
    }),
    { numRuns: 150 },
  );
});
