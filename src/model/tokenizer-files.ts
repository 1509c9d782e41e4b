// The tokenizer files a model card travels with: the worker reads them from its disk, hashes
// them into the card, and serves them in pieces; a frontend that cannot read the worker's path
// (another machine, files moved) fetches them, checks the hash, and loads them from its cache.
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TurbineError } from "../protocols/index.ts";
import type { TokenizerFileChunk, TokenizerSource } from "../protocols/index.ts";
import { readGgufHeader } from "./gguf-reader.ts";

/** Files of a Hugging Face folder the tokenizer is built from (tokenizer.json required). */
const HF_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json"];
/** A GGUF's vocabulary travels as its header with the tensor count set to 0 (no weights). */
export const GGUF_VOCAB_FILE = "vocab.gguf";
const PIECE_BYTES = 192 * 1024; // base64 of it stays well under NATS's 1 MiB payload

export interface TokenizerFile {
  name: string;
  bytes: Buffer;
}

/** The tokenizer files of a source, read from the worker's disk. */
export async function readTokenizerFiles(source: Exclude<TokenizerSource, { kind: "byte" }>): Promise<TokenizerFile[]> {
  try {
    if (source.kind === "gguf") {
      const header = readGgufHeader(source.path);
      const fh = await open(source.path, "r");
      try {
        const bytes = Buffer.alloc(header.dataOffset);
        await fh.read(bytes, 0, bytes.length, 0);
        bytes.writeBigUInt64LE(0n, 8); // tensor_count: llama.cpp's vocabOnly load needs none
        return [{ name: GGUF_VOCAB_FILE, bytes }];
      } finally {
        await fh.close();
      }
    }
    const files: TokenizerFile[] = [];
    for (const name of HF_TOKENIZER_FILES) {
      try {
        files.push({ name, bytes: await readFile(join(source.path, name)) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || name === "tokenizer.json") throw err;
      }
    }
    return files;
  } catch (cause) {
    if (cause instanceof TurbineError) throw cause;
    throw new TurbineError("MODEL_LOAD_FAILED", `cannot read the tokenizer files of ${source.path}: ${(cause as Error).message}`, { cause });
  }
}

/** SHA-256 over the files' names and contents, in order. */
export function tokenizerFilesDigest(files: readonly TokenizerFile[]): string {
  const h = createHash("sha256");
  for (const f of files) {
    h.update(`${f.name}\0${f.bytes.length}\0`);
    h.update(f.bytes);
  }
  return h.digest("hex");
}

/** The files as MODEL_FILES_ENDPOINT pieces. */
export function* tokenizerFileChunks(files: readonly TokenizerFile[]): Generator<TokenizerFileChunk> {
  for (const f of files) {
    for (let off = 0; off === 0 || off < f.bytes.length; off += PIECE_BYTES) {
      const end = Math.min(off + PIECE_BYTES, f.bytes.length);
      yield { name: f.name, data: f.bytes.subarray(off, end).toString("base64"), last: end === f.bytes.length };
    }
  }
}

/** Reassembles pieces into files. */
export function tokenizerFilesFromChunks(chunks: Iterable<TokenizerFileChunk>): TokenizerFile[] {
  const files: TokenizerFile[] = [];
  let parts: Buffer[] = [];
  for (const c of chunks) {
    parts.push(Buffer.from(c.data, "base64"));
    if (c.last) {
      files.push({ name: c.name, bytes: Buffer.concat(parts) });
      parts = [];
    }
  }
  return files;
}

/**
 * Writes fetched files into this process's cache (one folder per digest, written to a temp
 * name and renamed, so a half-written folder is never used) after checking their digest.
 * Returns the path to load: the folder (huggingface) or the vocab file (gguf).
 */
export async function cacheTokenizerFiles(
  kind: "huggingface" | "gguf",
  files: readonly TokenizerFile[],
  sha256: string,
  cacheDir = join(tmpdir(), "turbine-tokenizers"),
): Promise<string> {
  const digest = tokenizerFilesDigest(files);
  if (digest !== sha256) {
    throw new TurbineError("MODEL_LOAD_FAILED", `tokenizer files fetched from the worker have digest ${digest}, the card says ${sha256}`);
  }
  const dir = join(cacheDir, sha256);
  const partial = `${dir}.${process.pid}.${Date.now()}`;
  await mkdir(partial, { recursive: true });
  for (const f of files) await writeFile(join(partial, f.name), f.bytes);
  try {
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    // Another load got there first: its folder holds the same digest.
    if (!["ENOTEMPTY", "EEXIST"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
  }
  return kind === "gguf" ? join(dir, GGUF_VOCAB_FILE) : dir;
}
