// A GGUF v3 writer, and the random llama-architecture models the tests, `turbine serve`'s
// default and `turbine model random` use. Tensors are generated and written one at a time,
// so a 100M-parameter model never sits in memory whole.
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, GgufTokenType, GgufValueType } from "./gguf-format.ts";

/** A metadata entry to write: its type decides the encoding. */
export type GgufWriteValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "f32[]"; value: readonly number[] | Float32Array }
  | { type: "i32[]"; value: readonly number[] | Int32Array };

/** A tensor to write: its shape (ggml order: innermost first) and a function filling its values. */
export interface GgufWriteTensor {
  name: string;
  dims: readonly number[];
  type: "f32" | "f16";
  /** Fills `out` (length = product of dims) with the tensor's values. */
  fill(out: Float32Array): void;
}

/** Writes a GGUF v3 file: header, metadata, tensor infos, aligned tensor data. */
export async function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufWriteValue>,
  tensors: readonly GgufWriteTensor[],
): Promise<{ bytes: number }> {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type === "f16" ? GgmlType.F16 : GgmlType.F32);
    head.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + numElements(t.dims) * (t.type === "f16" ? 2 : 4), alignment);
  }
  const headBytes = head.bytes();
  const dataStart = alignUp(headBytes.length, alignment);
  const file = await open(path, "w");
  try {
    await writeAll(file, headBytes, 0);
    await writeAll(file, new Uint8Array(dataStart - headBytes.length), headBytes.length);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      const values = new Float32Array(numElements(t.dims));
      t.fill(values);
      const data = t.type === "f16" ? toF16Bytes(values) : new Uint8Array(values.buffer);
      const end = dataStart + offsets[i]! + data.length;
      await writeAll(file, data, dataStart + offsets[i]!);
      const next = i + 1 < tensors.length ? dataStart + offsets[i + 1]! : alignUp(end, alignment);
      if (next > end) await writeAll(file, new Uint8Array(next - end), end);
    }
    return { bytes: dataStart + offset };
  } finally {
    await file.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Random llama models

export type GgufPresetName = "tiny" | "small" | "100m";
export const GGUF_PRESET_NAMES: readonly GgufPresetName[] = ["tiny", "small", "100m"];

/** The shape of a llama-architecture model. */
export interface LlamaShape {
  vocabSize: number;
  embeddingLength: number;
  blockCount: number;
  headCount: number;
  headCountKv: number;
  feedForwardLength: number;
  contextLength: number;
}

export const GGUF_PRESETS: Readonly<Record<GgufPresetName, LlamaShape>> = {
  // Fast enough for tests on two shared cores: ~0.2M parameters.
  tiny: { vocabSize: 768, embeddingLength: 64, blockCount: 2, headCount: 4, headCountKv: 2, feedForwardLength: 128, contextLength: 4096 },
  // ~6M parameters: what `turbine serve` runs by default.
  small: { vocabSize: 4096, embeddingLength: 256, blockCount: 4, headCount: 8, headCountKv: 4, feedForwardLength: 704, contextLength: 4096 },
  // ~100M parameters, a realistic CPU load.
  "100m": { vocabSize: 24000, embeddingLength: 768, blockCount: 10, headCount: 12, headCountKv: 4, feedForwardLength: 2048, contextLength: 4096 },
};

export interface RandomLlamaOptions {
  preset?: GgufPresetName;
  /** Overrides of the preset's shape. */
  shape?: Partial<LlamaShape>;
  seed?: number;
  /** Store weights as F16 (norms stay F32, as llama.cpp's converters do). Default F32. */
  f16?: boolean;
  /** general.name; default "turbine-random-<preset>". */
  name?: string;
  chatTemplate?: string;
}

/** Special tokens of the random models' vocabulary, by id. */
export const RANDOM_UNK_ID = 0;
export const RANDOM_BOS_ID = 1;
export const RANDOM_EOS_ID = 2;
/** Role markers after the 256 byte tokens (control tokens: the chat template uses them). */
export const RANDOM_ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"] as const;

/** The random models' chat template (Zephyr-style, with the vocabulary's role tokens). */
export const RANDOM_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

export interface RandomLlamaInfo {
  path: string;
  bytes: number;
  numParameters: number;
  shape: LlamaShape;
}

/** Writes a llama-architecture GGUF with random weights drawn from `seed`. */
export async function writeRandomLlamaGguf(path: string, options: RandomLlamaOptions = {}): Promise<RandomLlamaInfo> {
  const preset = options.preset ?? "tiny";
  const shape: LlamaShape = { ...GGUF_PRESETS[preset], ...options.shape };
  const { embeddingLength: nEmbd, headCount, headCountKv, feedForwardLength: nFf, blockCount } = shape;
  if (nEmbd % headCount !== 0 || headCount % headCountKv !== 0) {
    throw new RangeError(`bad shape: embedding ${nEmbd}, heads ${headCount}, kv heads ${headCountKv}`);
  }
  const vocab = buildSpmVocabulary(shape.vocabSize);
  const seed = options.seed ?? 0;
  const headDim = nEmbd / headCount;
  const nEmbdKv = headDim * headCountKv;
  const wtype = options.f16 === true ? "f16" : "f32";

  const md = new Map<string, GgufWriteValue>();
  md.set("general.architecture", { type: "string", value: "llama" });
  md.set("general.name", { type: "string", value: options.name ?? `turbine-random-${preset}` });
  md.set("general.file_type", { type: "u32", value: options.f16 === true ? 1 : 0 });
  md.set("general.alignment", { type: "u32", value: GGUF_DEFAULT_ALIGNMENT });
  md.set("llama.context_length", { type: "u32", value: shape.contextLength });
  md.set("llama.embedding_length", { type: "u32", value: nEmbd });
  md.set("llama.block_count", { type: "u32", value: blockCount });
  md.set("llama.feed_forward_length", { type: "u32", value: nFf });
  md.set("llama.attention.head_count", { type: "u32", value: headCount });
  md.set("llama.attention.head_count_kv", { type: "u32", value: headCountKv });
  md.set("llama.rope.dimension_count", { type: "u32", value: headDim });
  md.set("llama.rope.freq_base", { type: "f32", value: 10000 });
  md.set("llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 });
  md.set("llama.vocab_size", { type: "u32", value: vocab.tokens.length });
  md.set("tokenizer.ggml.model", { type: "string", value: "llama" });
  md.set("tokenizer.ggml.tokens", { type: "string[]", value: vocab.tokens });
  md.set("tokenizer.ggml.scores", { type: "f32[]", value: vocab.scores });
  md.set("tokenizer.ggml.token_type", { type: "i32[]", value: vocab.types });
  md.set("tokenizer.ggml.unknown_token_id", { type: "u32", value: RANDOM_UNK_ID });
  md.set("tokenizer.ggml.bos_token_id", { type: "u32", value: RANDOM_BOS_ID });
  md.set("tokenizer.ggml.eos_token_id", { type: "u32", value: RANDOM_EOS_ID });
  md.set("tokenizer.ggml.add_bos_token", { type: "bool", value: true });
  md.set("tokenizer.ggml.add_eos_token", { type: "bool", value: false });
  md.set("tokenizer.chat_template", { type: "string", value: options.chatTemplate ?? RANDOM_CHAT_TEMPLATE });

  const tensors: GgufWriteTensor[] = [];
  let tensorIndex = 0;
  const uniform = (std: number) => {
    const s = mixSeed(seed, tensorIndex++);
    // Uniform on [-a, a] has standard deviation a/sqrt(3).
    return (out: Float32Array) => fillUniform(out, s, std * Math.sqrt(3));
  };
  const ones = (out: Float32Array) => {
    tensorIndex++;
    out.fill(1);
  };
  const nVocab = vocab.tokens.length;
  tensors.push({ name: "token_embd.weight", dims: [nEmbd, nVocab], type: wtype, fill: uniform(1) });
  for (let i = 0; i < blockCount; i++) {
    const p = `blk.${i}.`;
    tensors.push({ name: `${p}attn_norm.weight`, dims: [nEmbd], type: "f32", fill: ones });
    tensors.push({ name: `${p}attn_q.weight`, dims: [nEmbd, nEmbd], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}attn_k.weight`, dims: [nEmbd, nEmbdKv], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}attn_v.weight`, dims: [nEmbd, nEmbdKv], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}attn_output.weight`, dims: [nEmbd, nEmbd], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}ffn_norm.weight`, dims: [nEmbd], type: "f32", fill: ones });
    tensors.push({ name: `${p}ffn_gate.weight`, dims: [nEmbd, nFf], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}ffn_up.weight`, dims: [nEmbd, nFf], type: wtype, fill: uniform(1 / Math.sqrt(nEmbd)) });
    tensors.push({ name: `${p}ffn_down.weight`, dims: [nFf, nEmbd], type: wtype, fill: uniform(1 / Math.sqrt(nFf)) });
  }
  tensors.push({ name: "output_norm.weight", dims: [nEmbd], type: "f32", fill: ones });
  // Logits with a standard deviation of ~4: peaked enough that greedy choices are far from
  // ties (batched and unbatched kernels round differently), varied enough to sample from.
  tensors.push({ name: "output.weight", dims: [nEmbd, nVocab], type: wtype, fill: uniform(4 / Math.sqrt(nEmbd)) });

  let numParameters = 0;
  for (const t of tensors) numParameters += numElements(t.dims);
  const { bytes } = await writeGguf(path, md, tensors);
  return { path, bytes, numParameters, shape: { ...shape, vocabSize: nVocab } };
}

export interface SpmVocabulary {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

const SPACE = "\u2581"; // SentencePiece's visible space
const WORDS = (
  "the of and to a in is you that it he was for on are as with his they at be this have from or one had by word but not what all " +
  "were we when your can said there use an each which she do how their if will up other about out many then them these so some her " +
  "would make like him into time has look two more write go see number no way could people my than first water been call who oil its " +
  "now find long down day did get come made may part hello world model token cache router worker engine prompt request answer question"
).split(" ");
const CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";
const LOWER = "abcdefghijklmnopqrstuvwxyz";

/**
 * A SentencePiece vocabulary of exactly `size` tokens: `<unk>`, `<s>`, `</s>`, the 256 byte
 * tokens, the role markers, then word pieces. Every piece of two or more characters is the
 * concatenation of two earlier pieces, so llama.cpp's SPM merges can reach it; earlier pieces
 * score higher.
 */
export function buildSpmVocabulary(size: number): SpmVocabulary {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types: number[] = [GgufTokenType.UNKNOWN, GgufTokenType.CONTROL, GgufTokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(GgufTokenType.BYTE);
  }
  for (const role of RANDOM_ROLE_TOKENS) {
    tokens.push(role);
    types.push(GgufTokenType.CONTROL);
  }
  const numFixed = tokens.length;
  if (size < numFixed + CHARS.length + 1) throw new RangeError(`vocabulary size must be at least ${numFixed + CHARS.length + 1}`);
  const seen = new Set<string>();
  const add = (piece: string): boolean => {
    if (tokens.length >= size) return false;
    if (!seen.has(piece)) {
      seen.add(piece);
      tokens.push(piece);
      types.push(GgufTokenType.NORMAL);
    }
    return true;
  };
  add(SPACE);
  for (const c of CHARS) add(c);
  // Words, as the chain of their prefixes ("▁t", "▁th", "▁the").
  for (const w of WORDS) {
    for (let k = 1; k <= w.length; k++) if (!add(SPACE + w.slice(0, k))) break;
  }
  // Then letter pairs and triples, with and without the leading space, until full.
  for (const a of LOWER) add(SPACE + a);
  outer: for (const prefix of [SPACE, ""]) {
    for (const a of LOWER) for (const b of LOWER) if (!add(prefix + a + b)) break outer;
  }
  outer2: for (const prefix of [SPACE, ""]) {
    for (const a of LOWER) for (const b of LOWER) for (const c of LOWER) if (!add(prefix + a + b + c)) break outer2;
  }
  let n = 0;
  while (tokens.length < size) add(`${SPACE}w${n++}`); // only for vocabularies beyond ~37k
  const scores = new Float32Array(size);
  for (let i = numFixed; i < size; i++) scores[i] = -(i - numFixed);
  return { tokens, scores, types: Int32Array.from(types) };
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers

class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private n = 0;
  private static readonly encoder = new TextEncoder();

  private reserve(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.n, v, true);
    this.n += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.n, v, true);
    this.n += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.n, v, true);
    this.n += 4;
  }
  u64(v: number): void {
    this.reserve(8);
    this.view.setBigUint64(this.n, BigInt(v), true);
    this.n += 8;
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.n++] = v;
  }
  str(s: string): void {
    const bytes = ByteSink.encoder.encode(s);
    this.u64(bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.n);
    this.n += bytes.length;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

function writeValue(sink: ByteSink, v: GgufWriteValue): void {
  switch (v.type) {
    case "u32":
      sink.u32(GgufValueType.UINT32);
      sink.u32(v.value);
      return;
    case "i32":
      sink.u32(GgufValueType.INT32);
      sink.i32(v.value);
      return;
    case "f32":
      sink.u32(GgufValueType.FLOAT32);
      sink.f32(v.value);
      return;
    case "bool":
      sink.u32(GgufValueType.BOOL);
      sink.u8(v.value ? 1 : 0);
      return;
    case "string":
      sink.u32(GgufValueType.STRING);
      sink.str(v.value);
      return;
    case "string[]":
      sink.u32(GgufValueType.ARRAY);
      sink.u32(GgufValueType.STRING);
      sink.u64(v.value.length);
      for (const s of v.value) sink.str(s);
      return;
    case "f32[]":
      sink.u32(GgufValueType.ARRAY);
      sink.u32(GgufValueType.FLOAT32);
      sink.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) sink.f32(v.value[i]!);
      return;
    case "i32[]":
      sink.u32(GgufValueType.ARRAY);
      sink.u32(GgufValueType.INT32);
      sink.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) sink.i32(v.value[i]!);
      return;
  }
}

async function writeAll(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** A seed per tensor, so that tensors are independent of each other's sizes. */
function mixSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** mulberry32: fast, good enough for weights, identical on every platform. */
function fillUniform(out: Float32Array, seed: number, a: number): void {
  let s = seed >>> 0;
  const scale = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) * scale - a;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half precision, round to nearest even. */
export function toF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  e = half; // carry into the exponent is the right result (up to infinity)
  return sign | e;
}

function toF16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toF16Bits(values[i]!);
  return new Uint8Array(out.buffer);
}
