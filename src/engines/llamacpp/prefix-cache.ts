// The prefix cache: KV states of finished sequences, saved by llama.cpp as files in host memory
// (/dev/shm where there is one), keyed by the sequence hashes of their full blocks, LRU-bounded
// by bytes. It is the engine's KVBM G2 (tier "host": the states are in RAM, not in llama.cpp's
// KV cells) and the emitter of its host-tier KV events: a block is "stored" when the first
// entry holding it arrives and "removed" when the last one goes. An evicted entry is handed to
// `onEvict` (the KVBM offloads it to disk / Redis) before its file goes.
import { mkdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KvEventData, LocalBlockHash, SequenceHash } from "../../protocols/index.ts";

export interface PrefixCacheEntry {
  readonly id: number;
  readonly file: string;
  readonly bytes: number;
  /** Tokens of the state (its full blocks and any partial tail). */
  readonly numTokens: number;
  /** Sequence hashes of the state's full blocks. */
  readonly hashes: readonly SequenceHash[];
  /** Local hashes of the same blocks. */
  readonly locals: readonly LocalBlockHash[];
  /** Lookups that returned this entry (a reused state is worth offloading). */
  numUses: number;
}

export interface PrefixCacheOptions {
  /** Upper bound of the files' total size. */
  maxBytes: number;
  /** Folder for the state files; default a fresh folder under /dev/shm (or the temp folder). */
  dir?: string;
  /** Receives stored/removed events, in order. */
  emit(data: KvEventData): void;
  /** Called with an entry LRU eviction is about to drop, while its file still exists. */
  onEvict?(entry: PrefixCacheEntry): void;
}

export interface PrefixMatch {
  entry: PrefixCacheEntry;
  /** Leading blocks of the looked-up hashes the entry holds. */
  numBlocks: number;
}

export class PrefixCache {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly emit: (data: KvEventData) => void;
  private readonly onEvict: ((entry: PrefixCacheEntry) => void) | null;
  // Map order is LRU order: touching an entry re-inserts it at the end.
  private readonly entries = new Map<number, PrefixCacheEntry>();
  // Every entry holding a block; entries are prefix chains, so an entry holding block i holds 0..i.
  private readonly holders = new Map<SequenceHash, PrefixCacheEntry[]>();
  private nextId = 0;
  private totalBytes = 0;
  numEvictions = 0;

  constructor(options: PrefixCacheOptions) {
    this.maxBytes = options.maxBytes;
    this.emit = options.emit;
    this.onEvict = options.onEvict ?? null;
    const base = options.dir ?? (isDir("/dev/shm") ? "/dev/shm" : tmpdir());
    this.dir = join(base, `turbine-llamacpp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    mkdirSync(this.dir, { recursive: true });
  }

  get numEntries(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get numBlocks(): number {
    return this.holders.size;
  }

  /** The entry holding the longest prefix of `hashes`, or undefined. Touches it. */
  lookup(hashes: readonly SequenceHash[]): PrefixMatch | undefined {
    for (let i = hashes.length - 1; i >= 0; i--) {
      const list = this.holders.get(hashes[i]!);
      if (list === undefined) continue;
      const entry = list[list.length - 1]!;
      this.touch(entry);
      entry.numUses++;
      return { entry, numBlocks: i + 1 };
    }
    return undefined;
  }

  /** How many leading blocks of `hashes` the cache holds. */
  numCachedBlocks(hashes: readonly SequenceHash[]): number {
    let n = 0;
    while (n < hashes.length && this.holders.has(hashes[n]!)) n++;
    return n;
  }

  /** A fresh file path for a state about to be added. */
  newFile(): string {
    return join(this.dir, `state-${this.nextId++}.bin`);
  }

  /**
   * Adds a state file (already written at `file`) holding `numTokens` tokens whose full blocks
   * hash to `hashes`; emits "stored" for the blocks new to the cache, then evicts LRU entries
   * beyond the size bound (never the new one).
   */
  add(file: string, numTokens: number, hashes: readonly SequenceHash[], locals: readonly LocalBlockHash[]): PrefixCacheEntry {
    const bytes = statSync(file).size;
    const entry: PrefixCacheEntry = { id: this.nextId++, file, bytes, numTokens, hashes: hashes.slice(), locals: locals.slice(0, hashes.length), numUses: 0 };
    const firstNew = this.numCachedBlocks(hashes);
    for (const h of hashes) {
      const list = this.holders.get(h);
      if (list === undefined) this.holders.set(h, [entry]);
      else list.push(entry);
    }
    this.entries.set(entry.id, entry);
    this.totalBytes += bytes;
    if (firstNew < hashes.length) {
      const blocks = [];
      for (let i = firstNew; i < hashes.length; i++) blocks.push({ hash: hashes[i]!, tokensHash: locals[i]! });
      this.emit({ type: "stored", parentHash: firstNew > 0 ? hashes[firstNew - 1]! : null, blocks });
    }
    this.evictOver(this.maxBytes, entry);
    return entry;
  }

  /** Removes every entry and its files. */
  clear(): void {
    const had = this.holders.size > 0;
    for (const e of this.entries.values()) safeUnlink(e.file);
    this.entries.clear();
    this.holders.clear();
    this.totalBytes = 0;
    if (had) this.emit({ type: "cleared" });
  }

  /** Clears and deletes the folder. */
  close(): void {
    for (const e of this.entries.values()) safeUnlink(e.file);
    this.entries.clear();
    this.holders.clear();
    this.totalBytes = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private touch(entry: PrefixCacheEntry): void {
    this.entries.delete(entry.id);
    this.entries.set(entry.id, entry);
  }

  private evictOver(limit: number, keep: PrefixCacheEntry): void {
    for (const victim of this.entries.values()) {
      if (this.totalBytes <= limit) return;
      if (victim === keep) continue;
      this.onEvict?.(victim);
      this.remove(victim);
    }
  }

  private remove(entry: PrefixCacheEntry): void {
    this.entries.delete(entry.id);
    this.totalBytes -= entry.bytes;
    this.numEvictions++;
    safeUnlink(entry.file);
    const removed: SequenceHash[] = [];
    // Deepest first: a child block is never listed after its parent is gone.
    for (let i = entry.hashes.length - 1; i >= 0; i--) {
      const h = entry.hashes[i]!;
      const list = this.holders.get(h)!;
      const at = list.indexOf(entry);
      if (at !== -1) list.splice(at, 1);
      if (list.length === 0) {
        this.holders.delete(h);
        removed.push(h);
      }
    }
    if (removed.length > 0) this.emit({ type: "removed", hashes: removed });
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function safeUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
