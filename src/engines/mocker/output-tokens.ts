// Deterministic output tokens: the token at output position i is a pure function of
// (seed, hash of the original prompt, i), drawn uniformly from [min, max]. A migrated request
// (its first k outputs appended to the prompt) therefore continues with exactly the tokens
// the first attempt would have produced: it hashes the same original prompt and resumes at i = k.
// 32-bit integer mixing only: no BigInt, no allocation per token.
import { hashBlockTokens } from "../../kv/index.ts";

/** The inclusive range output tokens are drawn from. */
export interface TokenRange {
  min: number;
  max: number;
}

/** Printable ASCII: the byte-level tokenizer decodes these to readable text. */
export const DEFAULT_TOKEN_RANGE: TokenRange = { min: 32, max: 126 };

/** The per-request key of the token function: seed and original prompt, folded to 2x32 bits. */
export interface TokenKey {
  k0: number;
  k1: number;
}

const TWO_32 = 4294967296;

/** Folds a seed and the original prompt (tokens[0..end)) into a token key. */
export function tokenKey(seed: number, tokens: ArrayLike<number>, end: number): TokenKey {
  const h = hashBlockTokens(tokens, 0, end);
  const lo = Number(h & 0xffffffffn);
  const hi = Number(h >> 32n);
  const s = Math.trunc(seed);
  const sLo = s >>> 0;
  const sHi = Math.floor(s / TWO_32) >>> 0;
  return { k0: fmix32(lo ^ Math.imul(sLo, 0x9e3779b1)), k1: fmix32(hi ^ Math.imul(sHi ^ 0x85ebca6b, 0xc2b2ae35)) };
}

/** The token at output position `i`. */
export function tokenAt(key: TokenKey, i: number, range: TokenRange): number {
  const span = range.max - range.min + 1;
  let h = fmix32(key.k0 ^ Math.imul(i >>> 0, 0xcc9e2d51));
  h = fmix32(h ^ key.k1 ^ Math.imul(Math.floor(i / TWO_32) + 1, 0x1b873593));
  return range.min + (h % span);
}

/** MurmurHash3's finalizer: a bijective avalanche on 32 bits. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
