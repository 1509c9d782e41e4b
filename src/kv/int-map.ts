// A map from non-negative int32 keys to int32 values in two arrays of small integers (open
// addressing, linear probing, backward-shift deletion). Each worker's block list in the indexer
// is one. Plain SMI arrays rather than typed arrays: thousands of small typed arrays count as
// external memory and make V8 run full collections; a JS Map of numbers churns more garbage.

const EMPTY = -1;

export class IntMap {
  private keys: number[];
  private vals: number[];
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 8) {
    let cap = 8;
    while (cap < initialCapacity * 2) cap *= 2;
    this.keys = new Array<number>(cap).fill(EMPTY);
    this.vals = new Array<number>(cap).fill(0);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The value of `key`, or -1 if absent (values stored here are never negative). */
  get(key: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let s = hashInt(key) & mask; ; s = (s + 1) & mask) {
      const k = keys[s]!;
      if (k === key) return this.vals[s]!;
      if (k === EMPTY) return -1;
    }
  }

  set(key: number, value: number): void {
    const keys = this.keys;
    const mask = this.mask;
    for (let s = hashInt(key) & mask; ; s = (s + 1) & mask) {
      const k = keys[s]!;
      if (k === key) {
        this.vals[s] = value;
        return;
      }
      if (k === EMPTY) {
        keys[s] = key;
        this.vals[s] = value;
        if (++this.count * 4 > (mask + 1) * 3) this.rehash((mask + 1) * 2);
        return;
      }
    }
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let s = hashInt(key) & mask;
    for (; ; s = (s + 1) & mask) {
      const k = keys[s]!;
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Backward shift: pull later entries of the probe chain into the hole.
    let hole = s;
    for (let j = (hole + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = hashInt(keys[j]!) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]!;
        vals[hole] = vals[j]!;
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.count--;
    if (this.count * 8 < mask + 1 && mask + 1 > 64) this.rehash((mask + 1) / 2);
    return true;
  }

  /** A snapshot of the keys (safe to mutate the map while walking it). */
  keySnapshot(): Int32Array {
    const out = new Int32Array(this.count);
    const keys = this.keys;
    let n = 0;
    for (let s = 0; s < keys.length; s++) if (keys[s] !== EMPTY) out[n++] = keys[s]!;
    return out;
  }

  clear(): void {
    this.keys = new Array<number>(8).fill(EMPTY);
    this.vals = new Array<number>(8).fill(0);
    this.mask = 7;
    this.count = 0;
  }

  private rehash(capacity: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const keys = new Array<number>(capacity).fill(EMPTY);
    const vals = new Array<number>(capacity).fill(0);
    const mask = capacity - 1;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === EMPTY) continue;
      let s = hashInt(k) & mask;
      while (keys[s] !== EMPTY) s = (s + 1) & mask;
      keys[s] = k;
      vals[s] = oldVals[i]!;
    }
    this.keys = keys;
    this.vals = vals;
    this.mask = mask;
  }
}

function hashInt(key: number): number {
  const h = Math.imul(key, 0x9e3779b1);
  return h ^ (h >>> 16);
}
