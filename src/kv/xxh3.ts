// XXH3-64 with a seed, in TypeScript, for inputs of 0..240 bytes (XXH3's short and mid-size
// paths: every length the router's block hashing produces at block sizes up to 60). Bit-exact
// with the reference (Cyan4973/xxHash, doc/xxhash_spec.md) and with @node-rs/xxhash; longer
// inputs go to @node-rs/xxhash. Why: one N-API call costs ~0.2 µs, more than the hash itself,
// and a 4k-token prompt needs 512 of them.
//
// 64-bit values are (hi, lo) pairs of uint32 numbers: low words of products by Math.imul, high
// words from the double product (see mul32Hi). Nothing allocates and no BigInt is touched until
// the caller asks for one. `xxh3Tokens` hashes token ids (as little-endian u32s) and
// `xxh3Words16` the chain step's 16 bytes; both leave the result in `xxh3Out`. Other inputs
// are copied into one module-level scratch buffer (`xxh3_64`).
import { xxh3 } from "@node-rs/xxhash";

/** Longest input the TypeScript path covers (XXH3_MIDSIZE_MAX); longer ones use @node-rs/xxhash. */
export const XXH3_TS_MAX_LEN = 240;

/** Whether this platform stores typed-array words little-endian (the TypeScript path needs it). */
export const XXH3_TS_AVAILABLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Scratch input: bytes, and the same memory as u32 words (little-endian). */
const XXH3_INPUT_WORDS = new Uint32Array(XXH3_TS_MAX_LEN / 4);
const XXH3_INPUT = new Uint8Array(XXH3_INPUT_WORDS.buffer);

/** Result of the last `xxh3Tokens` / `xxh3Words16` call: [hi, lo]. */
export const xxh3Out = new Uint32Array(2);

/** Hashes computed in TypeScript (`ts`) and by @node-rs/xxhash (`native`: inputs over 240 bytes), for tests. */
export const xxh3Counters = { ts: 0, native: 0 };

// The default 192-byte secret (kSecret).
const SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);

const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

// The secret as a little-endian u64 at every byte offset (the mid-size path reads it unaligned).
const SECRET_U64 = SECRET.length - 7;
const SL = new Uint32Array(SECRET_U64);
const SH = new Uint32Array(SECRET_U64);
for (let o = 0; o < SECRET_U64; o++) {
  SL[o] = le32(SECRET, o);
  SH[o] = le32(SECRET, o + 4);
}

const P64_1_HI = 0x9e3779b1, P64_1_LO = 0x85ebca87;
const P64_2_HI = 0xc2b2ae3d, P64_2_LO = 0x27d4eb4f;
const P64_3_HI = 0x165667b1, P64_3_LO = 0x9e3779f9;
const MX1_HI = 0x16566791, MX1_LO = 0x9e3779f9;
const MX2_HI = 0x9fb21c65, MX2_LO = 0x1e98df25;
const TWO32 = 4294967296;
const INV_TWO32 = 1 / TWO32; // exact: a power of two

// Results of the helpers below. A typed array, not `let` variables: a module-level `let` holding
// a number over 2^31 is a boxed heap number, allocated on every write.
const R = new Uint32Array(4);
const R_HI = 0, R_LO = 1, ACC_HI = 2, ACC_LO = 3;

/**
 * High 32 bits of the 64-bit product of two uint32s (the low word is Math.imul(a, b) >>> 0).
 * The double product is off by at most 2^10 and the subtraction adds as much, so the quotient
 * is within 2^-21 of the exact high word: rounding (+ 0.5, truncate) recovers it.
 */
function mul32Hi(a: number, b: number): number {
  return ((a * b - (Math.imul(a, b) >>> 0)) * INV_TWO32 + 0.5) >>> 0;
}

/** Low 64 bits of a 64×64 product; sets R[R_HI], R[R_LO]. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  R[R_LO] = Math.imul(aLo, bLo);
  R[R_HI] = mul32Hi(aLo, bLo) + Math.imul(aLo, bHi) + Math.imul(aHi, bLo);
}

/** XXH3_mul128_fold64: the 128-bit product's low half XOR its high half; sets R[R_HI], R[R_LO]. */
function mul128Fold64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const h00 = mul32Hi(aLo, bLo), l00 = Math.imul(aLo, bLo) >>> 0;
  const h01 = mul32Hi(aLo, bHi), l01 = Math.imul(aLo, bHi) >>> 0;
  const h10 = mul32Hi(aHi, bLo), l10 = Math.imul(aHi, bLo) >>> 0;
  const h11 = mul32Hi(aHi, bHi), l11 = Math.imul(aHi, bHi) >>> 0;
  // Words w0..w3 of the product; the sums stay below 2^35, exact as doubles.
  const t1 = h00 + l01 + l10;
  const w1 = t1 >>> 0;
  const t2 = h01 + h10 + l11 + (t1 - w1) * INV_TWO32;
  const w2 = t2 >>> 0;
  const w3 = (h11 + (t2 - w2) * INV_TWO32) >>> 0;
  R[R_HI] = w3 ^ w1;
  R[R_LO] = w2 ^ l00;
}

/** XXH3_avalanche of (hi, lo); sets R[R_HI], R[R_LO]. */
function avalanche3(hi: number, lo: number): void {
  lo = (lo ^ (hi >>> 5)) >>> 0; // h ^= h >> 37
  mul64(hi, lo, MX1_HI, MX1_LO);
  R[R_LO] = (R[R_LO]! ^ R[R_HI]!) >>> 0; // h ^= h >> 32
}

/** XXH64_avalanche of (hi, lo); sets R[R_HI], R[R_LO]. */
function avalanche64(hi: number, lo: number): void {
  lo = (lo ^ (hi >>> 1)) >>> 0; // h ^= h >> 33
  mul64(hi, lo, P64_2_HI, P64_2_LO);
  hi = R[R_HI]!;
  lo = (R[R_LO]! ^ ((R[R_LO]! >>> 29) | (R[R_HI]! << 3))) >>> 0; // h ^= h >> 29
  hi = (hi ^ (hi >>> 29)) >>> 0;
  mul64(hi, lo, P64_3_HI, P64_3_LO);
  R[R_LO] = (R[R_LO]! ^ R[R_HI]!) >>> 0; // h ^= h >> 32
}

const bswap32 = (x: number): number => ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x & 0xff00) << 8) | (x << 24)) >>> 0;

/** u32 at byte offset `o` of the scratch input. */
function in32(o: number): number {
  return (o & 3) === 0 ? XXH3_INPUT_WORDS[o >>> 2]! : le32(XXH3_INPUT, o);
}

// The secret with the seed added (KP) and subtracted (KM) at every byte offset, for the
// mid-size paths; recomputed when the seed changes (the router always hashes with one seed).
const KPL = new Uint32Array(SECRET_U64);
const KPH = new Uint32Array(SECRET_U64);
const KML = new Uint32Array(SECRET_U64);
const KMH = new Uint32Array(SECRET_U64);
const KEYED_SEED = new Float64Array([-1, -1]); // [hi, lo] of the seed KP/KM hold; -1: none

function keySecret(seedHi: number, seedLo: number): void {
  if (KEYED_SEED[0] === seedHi && KEYED_SEED[1] === seedLo) return;
  for (let o = 0; o < SECRET_U64; o++) {
    const p = SL[o]! + seedLo;
    KPL[o] = p;
    KPH[o] = SH[o]! + seedHi + (p >= TWO32 ? 1 : 0);
    const m = SL[o]! - seedLo;
    KML[o] = m;
    KMH[o] = SH[o]! - seedHi - (m < 0 ? 1 : 0);
  }
  KEYED_SEED[0] = seedHi;
  KEYED_SEED[1] = seedLo;
}

/** acc += XXH3_mix16B(input + io, secret + so, seed), with the keyed secret of keySecret. */
function mix16B(io: number, so: number): void {
  let aLo: number, aHi: number, bLo: number, bHi: number;
  if ((io & 3) === 0) {
    const w = io >>> 2;
    aLo = XXH3_INPUT_WORDS[w]!;
    aHi = XXH3_INPUT_WORDS[w + 1]!;
    bLo = XXH3_INPUT_WORDS[w + 2]!;
    bHi = XXH3_INPUT_WORDS[w + 3]!;
  } else {
    aLo = le32(XXH3_INPUT, io);
    aHi = le32(XXH3_INPUT, io + 4);
    bLo = le32(XXH3_INPUT, io + 8);
    bHi = le32(XXH3_INPUT, io + 12);
  }
  mul128Fold64((aHi ^ KPH[so]!) >>> 0, (aLo ^ KPL[so]!) >>> 0, (bHi ^ KMH[so + 8]!) >>> 0, (bLo ^ KML[so + 8]!) >>> 0);
  const lo = R[ACC_LO]! + R[R_LO]!;
  R[ACC_HI] = R[ACC_HI]! + R[R_HI]! + (lo >= TWO32 ? 1 : 0);
  R[ACC_LO] = lo;
}

function len0(seedHi: number, seedLo: number): void {
  avalanche64((seedHi ^ SH[56]! ^ SH[64]!) >>> 0, (seedLo ^ SL[56]! ^ SL[64]!) >>> 0);
}

function len1to3(len: number, seedHi: number, seedLo: number): void {
  const combined = ((XXH3_INPUT[0]! << 16) | (XXH3_INPUT[len >>> 1]! << 24) | XXH3_INPUT[len - 1]! | (len << 8)) >>> 0;
  const flip = ((SL[0]! ^ SL[4]!) >>> 0) + seedLo;
  const flipHi = (seedHi + (flip >= TWO32 ? 1 : 0)) >>> 0;
  avalanche64(flipHi, (combined ^ flip) >>> 0);
}

function len4to8(len: number, seedHi: number, seedLo: number): void {
  seedHi = (seedHi ^ bswap32(seedLo)) >>> 0;
  // bitflip = (secret[8..16] ^ secret[16..24]) - seed
  const fLo = ((SL[8]! ^ SL[16]!) >>> 0) - seedLo;
  const fHi = (((SH[8]! ^ SH[16]!) >>> 0) - seedHi - (fLo < 0 ? 1 : 0)) >>> 0;
  let hi = (in32(0) ^ fHi) >>> 0;
  let lo = (in32(len - 4) ^ (fLo >>> 0)) >>> 0;
  // XXH3_rrmxmx: h ^= rotl(h, 49) ^ rotl(h, 24)
  const r49Hi = (lo << 17) | (hi >>> 15), r49Lo = (hi << 17) | (lo >>> 15);
  const r24Hi = (hi << 24) | (lo >>> 8), r24Lo = (lo << 24) | (hi >>> 8);
  hi = (hi ^ r49Hi ^ r24Hi) >>> 0;
  lo = (lo ^ r49Lo ^ r24Lo) >>> 0;
  mul64(hi, lo, MX2_HI, MX2_LO);
  lo = (R[R_LO]! ^ ((R[R_HI]! >>> 3) + len)) >>> 0; // h ^= (h >> 35) + len
  mul64(R[R_HI]!, lo, MX2_HI, MX2_LO);
  R[R_LO] = (R[R_LO]! ^ ((R[R_LO]! >>> 28) | (R[R_HI]! << 4))) >>> 0; // h ^= h >> 28
  R[R_HI] = (R[R_HI]! ^ (R[R_HI]! >>> 28)) >>> 0;
}

function len9to16(len: number, seedHi: number, seedLo: number): void {
  // bitflip1 = (secret[24..32] ^ secret[32..40]) + seed; bitflip2 = (secret[40..48] ^ secret[48..56]) - seed
  let fLo = ((SL[24]! ^ SL[32]!) >>> 0) + seedLo;
  let fHi = (((SH[24]! ^ SH[32]!) >>> 0) + seedHi + (fLo >= TWO32 ? 1 : 0)) >>> 0;
  const aLo = (in32(0) ^ fLo) >>> 0;
  const aHi = (in32(4) ^ fHi) >>> 0;
  fLo = ((SL[40]! ^ SL[48]!) >>> 0) - seedLo;
  fHi = (((SH[40]! ^ SH[48]!) >>> 0) - seedHi - (fLo < 0 ? 1 : 0)) >>> 0;
  const bLo = (in32(len - 8) ^ fLo) >>> 0;
  const bHi = (in32(len - 4) ^ fHi) >>> 0;
  mul128Fold64(aHi, aLo, bHi, bLo);
  // acc = len + swap64(a) + b + fold
  let lo = len + bswap32(aHi) + bLo + R[R_LO]!;
  const hi = (bswap32(aLo) + bHi + R[R_HI]! + (lo >= TWO32 ? Math.floor(lo * INV_TWO32) : 0)) >>> 0;
  lo >>>= 0;
  avalanche3(hi, lo);
}

function len17to128(len: number, seedHi: number, seedLo: number): void {
  keySecret(seedHi, seedLo);
  mul64(0, len, P64_1_HI, P64_1_LO);
  R[ACC_HI] = R[R_HI]!;
  R[ACC_LO] = R[R_LO]!;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        mix16B(48, 96);
        mix16B(len - 64, 112);
      }
      mix16B(32, 64);
      mix16B(len - 48, 80);
    }
    mix16B(16, 32);
    mix16B(len - 32, 48);
  }
  mix16B(0, 0);
  mix16B(len - 16, 16);
  avalanche3(R[ACC_HI]!, R[ACC_LO]!);
}

function len129to240(len: number, seedHi: number, seedLo: number): void {
  keySecret(seedHi, seedLo);
  mul64(0, len, P64_1_HI, P64_1_LO);
  R[ACC_HI] = R[R_HI]!;
  R[ACC_LO] = R[R_LO]!;
  for (let i = 0; i < 8; i++) mix16B(16 * i, 16 * i);
  avalanche3(R[ACC_HI]!, R[ACC_LO]!);
  const firstHi = R[R_HI]!, firstLo = R[R_LO]!;
  // acc_end = mix16B(input + len - 16, secret + 136 - 17), then the rounds past the eighth
  R[ACC_HI] = 0;
  R[ACC_LO] = 0;
  mix16B(len - 16, 119);
  const rounds = len >>> 4;
  for (let i = 8; i < rounds; i++) mix16B(16 * i, 16 * (i - 8) + 3);
  const lo = firstLo + R[ACC_LO]!;
  avalanche3((firstHi + R[ACC_HI]! + (lo >= TWO32 ? 1 : 0)) >>> 0, lo >>> 0);
}

/** acc += XXH3_mix16B over tokens[w, w + 4) as little-endian u32s (see mix16B). */
function mix16BTokens(tokens: ArrayLike<number>, w: number, so: number): void {
  // XOR converts like ToUint32 (the same bits), so the token needs no `>>> 0` first.
  mul128Fold64(
    (tokens[w + 1]! ^ KPH[so]!) >>> 0,
    (tokens[w]! ^ KPL[so]!) >>> 0,
    (tokens[w + 3]! ^ KMH[so + 8]!) >>> 0,
    (tokens[w + 2]! ^ KML[so + 8]!) >>> 0,
  );
  const lo = R[ACC_LO]! + R[R_LO]!;
  R[ACC_HI] = R[ACC_HI]! + R[R_HI]! + (lo >= TWO32 ? 1 : 0);
  R[ACC_LO] = lo;
}

/**
 * XXH3-64 of tokens[start, start + n) as little-endian u32s (n ≤ 60: 240 bytes); leaves the
 * result in `xxh3Out`. Blocks of 5..32 tokens (the 17..128-byte path, block size 16 included)
 * are read from `tokens` in place; others are copied into the scratch input first.
 */
export function xxh3Tokens(tokens: ArrayLike<number>, start: number, n: number, seedHi: number, seedLo: number): void {
  if (n < 5 || n > 32) {
    // A Uint32Array store is ToUint32, the same as `>>> 0`.
    for (let i = 0; i < n; i++) XXH3_INPUT_WORDS[i] = tokens[start + i]!;
    xxh3Scratch(n * 4, seedHi, seedLo);
    return;
  }
  // len17to128 with input word k = tokens[start + k].
  keySecret(seedHi, seedLo);
  mul64(0, n * 4, P64_1_HI, P64_1_LO);
  R[ACC_HI] = R[R_HI]!;
  R[ACC_LO] = R[R_LO]!;
  const end = start + n;
  if (n > 8) {
    if (n > 16) {
      if (n > 24) {
        mix16BTokens(tokens, start + 12, 96);
        mix16BTokens(tokens, end - 16, 112);
      }
      mix16BTokens(tokens, start + 8, 64);
      mix16BTokens(tokens, end - 12, 80);
    }
    mix16BTokens(tokens, start + 4, 32);
    mix16BTokens(tokens, end - 8, 48);
  }
  mix16BTokens(tokens, start, 0);
  mix16BTokens(tokens, end - 4, 16);
  avalanche3(R[ACC_HI]!, R[ACC_LO]!);
  xxh3Out[0] = R[R_HI]!;
  xxh3Out[1] = R[R_LO]!;
}

/**
 * XXH3-64 of the first `len` (≤ 240) bytes of the scratch input with seed (seedHi, seedLo);
 * leaves the result in `xxh3Out`.
 */
function xxh3Scratch(len: number, seedHi: number, seedLo: number): void {
  if (len > 128) len129to240(len, seedHi, seedLo);
  else if (len > 16) len17to128(len, seedHi, seedLo);
  else if (len > 8) len9to16(len, seedHi, seedLo);
  else if (len >= 4) len4to8(len, seedHi, seedLo);
  else if (len > 0) len1to3(len, seedHi, seedLo);
  else len0(seedHi, seedLo);
  xxh3Out[0] = R[R_HI]!;
  xxh3Out[1] = R[R_LO]!;
}

/**
 * XXH3-64 of 16 bytes given as four u32 words (little-endian order: bytes 0..3 are w0),
 * the chain step's input, without touching the scratch buffer; leaves the result in `xxh3Out`.
 */
export function xxh3Words16(w0: number, w1: number, w2: number, w3: number, seedHi: number, seedLo: number): void {
  let fLo = ((SL[24]! ^ SL[32]!) >>> 0) + seedLo;
  let fHi = (((SH[24]! ^ SH[32]!) >>> 0) + seedHi + (fLo >= TWO32 ? 1 : 0)) >>> 0;
  const aLo = (w0 ^ fLo) >>> 0;
  const aHi = (w1 ^ fHi) >>> 0;
  fLo = ((SL[40]! ^ SL[48]!) >>> 0) - seedLo;
  fHi = (((SH[40]! ^ SH[48]!) >>> 0) - seedHi - (fLo < 0 ? 1 : 0)) >>> 0;
  const bLo = (w2 ^ fLo) >>> 0;
  const bHi = (w3 ^ fHi) >>> 0;
  mul128Fold64(aHi, aLo, bHi, bLo);
  let lo = 16 + bswap32(aHi) + bLo + R[R_LO]!;
  const hi = (bswap32(aLo) + bHi + R[R_HI]! + (lo >= TWO32 ? Math.floor(lo * INV_TWO32) : 0)) >>> 0;
  lo >>>= 0;
  avalanche3(hi, lo);
  xxh3Out[0] = R[R_HI]!;
  xxh3Out[1] = R[R_LO]!;
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

/** XXH3-64 of `input` with a u64 seed: the TypeScript path up to 240 bytes, @node-rs/xxhash beyond. */
export function xxh3_64(input: Uint8Array, seed: bigint = 0n): bigint {
  const s = BigInt.asUintN(64, seed);
  if (input.length > XXH3_TS_MAX_LEN || !XXH3_TS_AVAILABLE) {
    xxh3Counters.native++;
    return xxh3.xxh64(input, s);
  }
  xxh3Counters.ts++;
  XXH3_INPUT.set(input);
  xxh3Scratch(input.length, Number(s >> 32n), Number(s & 0xffff_ffffn));
  return ((BigInt(xxh3Out[0]!) << 32n) | BigInt(xxh3Out[1]!)) & MASK64;
}
