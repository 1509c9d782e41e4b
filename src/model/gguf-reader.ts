// Reads a GGUF file's header, metadata and tensor infos (not the weights) in TypeScript, so
// that a model card can be built without loading llama.cpp.
import { closeSync, openSync, readSync } from "node:fs";
import { TurbineError } from "../protocols/index.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType } from "./gguf-format.ts";
import type { GgufValue } from "./gguf-format.ts";

export interface GgufTensorInfo {
  name: string;
  /** ggml order: innermost dimension first. */
  dims: number[];
  /** ggml type id (0 F32, 1 F16, ...). */
  type: number;
  /** Byte offset from the start of the data section. */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Byte offset of the tensor data section in the file. */
  dataOffset: number;
}

const CHUNK = 1 << 20;
const decoder = new TextDecoder("utf-8");

/** A forward-only reader over a file descriptor, refilled in 1 MiB chunks. */
class FileCursor {
  private buf = new Uint8Array(CHUNK);
  private view = new DataView(this.buf.buffer);
  private start = 0; // file offset of buf[0]
  private end = 0; // valid bytes in buf
  private at = 0; // read position in buf

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  get position(): number {
    return this.start + this.at;
  }

  private need(k: number): void {
    if (this.at + k <= this.end) return;
    const keep = this.end - this.at;
    const cap = Math.max(CHUNK, k);
    const next = cap > this.buf.length ? new Uint8Array(cap) : this.buf;
    next.copyWithin(0, this.at, this.end);
    if (next !== this.buf) next.set(this.buf.subarray(this.at, this.end));
    this.start += this.at;
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.at = 0;
    this.end = keep;
    while (this.end < k) {
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.start + this.end);
      if (n === 0) throw new TurbineError("MODEL_LOAD_FAILED", `${this.path}: truncated GGUF file`);
      this.end += n;
    }
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  size(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TurbineError("MODEL_LOAD_FAILED", `${this.path}: size ${v} too large`);
    return Number(v);
  }
  str(): string {
    const n = this.size();
    this.need(n);
    const s = decoder.decode(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  value(type: number): GgufValue {
    switch (type) {
      case GgufValueType.UINT8:
        return this.u8();
      case GgufValueType.INT8:
        return (this.u8() << 24) >> 24;
      case GgufValueType.UINT16:
        this.need(2);
        return this.view.getUint16((this.at += 2) - 2, true);
      case GgufValueType.INT16:
        this.need(2);
        return this.view.getInt16((this.at += 2) - 2, true);
      case GgufValueType.UINT32:
        return this.u32();
      case GgufValueType.INT32:
        this.need(4);
        return this.view.getInt32((this.at += 4) - 4, true);
      case GgufValueType.FLOAT32:
        this.need(4);
        return this.view.getFloat32((this.at += 4) - 4, true);
      case GgufValueType.BOOL:
        return this.u8() !== 0;
      case GgufValueType.STRING:
        return this.str();
      case GgufValueType.UINT64:
        return this.u64();
      case GgufValueType.INT64:
        this.need(8);
        return this.view.getBigInt64((this.at += 8) - 8, true);
      case GgufValueType.FLOAT64:
        this.need(8);
        return this.view.getFloat64((this.at += 8) - 8, true);
      case GgufValueType.ARRAY: {
        const elemType = this.u32();
        const n = this.size();
        const out: GgufValue[] = new Array<GgufValue>(n);
        for (let i = 0; i < n; i++) out[i] = this.value(elemType);
        return out;
      }
      default:
        throw new TurbineError("MODEL_LOAD_FAILED", `${this.path}: unknown GGUF value type ${type}`);
    }
  }
}

/** Parses a GGUF file's header (v2 and v3). Throws MODEL_LOAD_FAILED naming the file. */
export function readGgufHeader(path: string): GgufHeader {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (cause) {
    throw new TurbineError("MODEL_LOAD_FAILED", `cannot open GGUF file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const c = new FileCursor(fd, path);
    if (c.u32() !== GGUF_MAGIC) throw new TurbineError("MODEL_LOAD_FAILED", `${path} is not a GGUF file (bad magic)`);
    const version = c.u32();
    if (version < 2 || version > 3) throw new TurbineError("MODEL_LOAD_FAILED", `${path}: unsupported GGUF version ${version}`);
    const numTensors = c.size();
    const numKv = c.size();
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < numKv; i++) {
      const key = c.str();
      metadata.set(key, c.value(c.u32()));
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < numTensors; i++) {
      const name = c.str();
      const nDims = c.u32();
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.size());
      const type = c.u32();
      tensors.push({ name, dims, type, offset: c.size() });
    }
    const alignment = numberOf(metadata.get("general.alignment")) ?? GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = Math.ceil(c.position / alignment) * alignment;
    return { version, metadata, tensors, dataOffset };
  } catch (err) {
    if (err instanceof TurbineError) throw err;
    throw new TurbineError("MODEL_LOAD_FAILED", `${path}: bad GGUF header: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/** What a model card needs from a GGUF header. */
export interface GgufModelInfo {
  architecture: string;
  name: string | undefined;
  contextLength: number | undefined;
  chatTemplate: string | undefined;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  /** Text of the BOS / EOS tokens in the vocabulary. */
  bosToken: string | undefined;
  eosToken: string | undefined;
  /** End-of-turn token (`tokenizer.ggml.eot_token_id`), also a stop token. */
  eotTokenId: number | undefined;
  vocabSize: number | undefined;
  addBosToken: boolean | undefined;
}

export function ggufModelInfo(header: GgufHeader): GgufModelInfo {
  const md = header.metadata;
  const architecture = stringOf(md.get("general.architecture")) ?? "unknown";
  const tokens = md.get("tokenizer.ggml.tokens");
  const tokenList = Array.isArray(tokens) ? tokens : undefined;
  const bosTokenId = numberOf(md.get("tokenizer.ggml.bos_token_id"));
  const eosTokenId = numberOf(md.get("tokenizer.ggml.eos_token_id"));
  const tokenText = (id: number | undefined): string | undefined => {
    const t = id === undefined ? undefined : tokenList?.[id];
    return typeof t === "string" ? t : undefined;
  };
  const addBos = md.get("tokenizer.ggml.add_bos_token");
  return {
    architecture,
    name: stringOf(md.get("general.name")),
    contextLength: numberOf(md.get(`${architecture}.context_length`)),
    chatTemplate: stringOf(md.get("tokenizer.chat_template")),
    bosTokenId,
    eosTokenId,
    bosToken: tokenText(bosTokenId),
    eosToken: tokenText(eosTokenId),
    eotTokenId: numberOf(md.get("tokenizer.ggml.eot_token_id")),
    vocabSize: tokenList?.length,
    addBosToken: typeof addBos === "boolean" ? addBos : undefined,
  };
}

function numberOf(v: GgufValue | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

function stringOf(v: GgufValue | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}
