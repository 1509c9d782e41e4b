// The router's only source of randomness, injected so that tests and the discrete-event
// simulator are reproducible.

/** A uniform source of numbers in [0, 1). */
export interface RandomSource {
  next(): number;
}

/**
 * A seeded generator (sfc32 seeded through splitmix32): fast, 128-bit state, good enough
 * statistical quality for tie-breaking and softmax sampling; not cryptographic.
 */
export function createSeededRandom(seed: number): RandomSource {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return {
    next(): number {
      const t = (((a + b) >>> 0) + d) >>> 0;
      d = (d + 1) >>> 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) >>> 0;
      c = ((c << 21) | (c >>> 11)) >>> 0;
      c = (c + t) >>> 0;
      return t / 4294967296;
    },
  };
}

/** Math.random behind the RandomSource interface (the default outside tests). */
export const mathRandom: RandomSource = { next: () => Math.random() };

/** A uniform integer in [0, n). */
export const randomIndex = (rng: RandomSource, n: number): number => Math.floor(rng.next() * n);
