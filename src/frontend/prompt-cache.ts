// The chat prompts of one model and their token ids, cached: a request that repeats a whole
// conversation costs a key and a hash instead of a template render and a tokenization, and one
// that repeats parts of it (a long system prompt, the turns before the last) has those parts'
// tokens from the cache. Exact by construction, never by luck:
// - a rendering is cached only when the template is deterministic (reads no clock), under a key
//   that is its whole input (messages, tools, template variables) as JSON, and only when that
//   JSON captures everything the template can see (plain JSON values: no undefined, -0, NaN,
//   functions, class instances);
// - the prompt's tokens are cached per section between added tokens only where the tokenizer
//   encodes those sections independently (`PromptSegmentation`, checked when it loads);
// - entries are found by an xxh3 hash of the key and kept with the key, which a hit compares.
// One LRU per model, bounded by an estimate of the bytes its entries hold. A rendering gets an
// entry the second time its key is seen (a doorkeeper of recent hashes, as TinyLFU's): most
// whole prompts are seen once (a conversation's grows every request), and each would be an
// entry that the collector moves and marks until it is evicted. A section gets one at once:
// a conversation's turns come back in its next request.
import { xxh3 } from "@node-rs/xxhash";
import { HfTokenizer } from "../model/index.ts";
import type { ChatMessage, ChatTemplate, ChatTemplateRenderOptions, EncodeOptions, PromptSegmentation, PromptSections, Tokenizer, TokenizerThreads } from "../model/index.ts";

export const DEFAULT_PROMPT_CACHE_BYTES = 64 * 1024 * 1024;

/** What an entry caches: a whole rendered prompt with its ids, or one section's ids. */
export type PromptCacheKind = "render" | "segment";
export const PROMPT_CACHE_KINDS: readonly PromptCacheKind[] = ["render", "segment"];

export interface PromptCacheOptions {
  /** Bound on the bytes the entries hold (an estimate; default 64 MiB). */
  maxBytes?: number;
}

/** A prompt's sections looked up in the cache: the ids of those it holds, the others to encode. */
interface SectionPlan extends PromptSections {
  /** Per part: the cached ids of a text section that hit. */
  cached: (ArrayLike<number> | undefined)[];
  /** Per text part: its entry's hash. */
  hashes: bigint[];
  /** Indexes (into parts) of the text sections to encode, in order. */
  misses: number[];
}

/** Counters the cache adds its hits and misses to (the model's Prometheus children). */
export interface PromptCacheCounters {
  hits: Record<PromptCacheKind, { inc(value?: number): void }>;
  misses: Record<PromptCacheKind, { inc(value?: number): void }>;
}

export interface RenderedPrompt {
  prompt: string;
  /** The prompt's ids (parsed special tokens, no added BOS); the caller's own array. */
  tokenIds: number[];
}

export interface PromptCacheStats {
  hits: Record<PromptCacheKind, number>;
  misses: Record<PromptCacheKind, number>;
  entries: number;
  bytes: number;
}

// A rendered template holds the model's special tokens as text: they are parsed as specials.
const WHOLE_PROMPT: EncodeOptions = { addSpecialTokens: false, parseSpecialTokens: true };

function encodeWhole(tokenizer: Tokenizer, prompt: string): number[] {
  return tokenizer.encode(prompt, WHOLE_PROMPT);
}

/** A whole rendered prompt's ids: on the tokenizer's threads when it is long enough for them. */
function encodePrompt(tokenizer: Tokenizer, threads: TokenizerThreads | undefined, prompt: string): number[] | Promise<number[]> {
  return threads?.takes(prompt.length) ? threads.encode(prompt, WHOLE_PROMPT) : encodeWhole(tokenizer, prompt);
}

/** The prompt of `messages` and its ids, with no cache (a promise when encoded on a thread). */
export function renderPrompt(
  chatTemplate: ChatTemplate,
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  options: ChatTemplateRenderOptions,
  threads?: TokenizerThreads,
): RenderedPrompt | Promise<RenderedPrompt> {
  const prompt = chatTemplate.render(messages, options);
  const ids = encodePrompt(tokenizer, threads, prompt);
  return ids instanceof Promise ? ids.then((tokenIds) => ({ prompt, tokenIds })) : { prompt, tokenIds: ids };
}

function toArray(ids: Uint32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  return out;
}

interface Entry {
  kind: PromptCacheKind;
  key: string;
  /** A segment: whether it is a prompt's first section. */
  first: boolean;
  /** A render: the prompt. */
  prompt: string;
  /** Off the JS heap (a typed array's store): the collector does not walk it. */
  tokenIds: Uint32Array;
  bytes: number;
}

// Hash seeds per kind; a hit also compares kind and key.
const SEED: Record<PromptCacheKind | "first", bigint> = { render: 1n, segment: 2n, first: 3n };
// Per-entry overhead of the estimate (the entry, the Map slot, the hash).
const ENTRY_OVERHEAD_BYTES = 160;
// Hashes of keys seen once, waiting for a second sighting (about 1 MiB at most).
const DOORKEEPER_HASHES = 16384;

let canonical = true;
/**
 * JSON.stringify's replacer for render keys: clears `canonical` at any value the JSON would
 * not show as the template sees it (undefined, functions, -0, NaN, a toJSON, a class instance).
 */
function checkCanonical(this: unknown, key: string, value: unknown): unknown {
  // What a toJSON returned is not what the template sees.
  if ((this as Record<string, unknown>)[key] !== value) canonical = false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value) || Object.is(value, -0)) canonical = false;
      return value;
    case "object": {
      if (value === null) return value;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) canonical = false;
      return value;
    }
    default:
      canonical = false;
      return undefined;
  }
}

/** The render key of these inputs, or undefined when JSON cannot stand for them exactly. */
function renderKey(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions): string | undefined {
  canonical = true;
  let key: string;
  try {
    key = JSON.stringify([messages, options.tools ?? null, options.variables ?? null, options.addGenerationPrompt ?? true], checkCanonical);
  } catch {
    // A cycle: rendered uncached, as without a cache.
    return undefined;
  }
  return canonical ? key : undefined;
}

export class PromptCache {
  /** Whether renderings are cached (the template is deterministic). */
  readonly cachesRenders: boolean;
  /** Whether prompt sections are cached (the tokenizer encodes them independently). */
  readonly cachesSegments: boolean;
  readonly maxBytes: number;
  private readonly segmentation: PromptSegmentation | undefined;
  private readonly entries = new Map<bigint, Entry>();
  private readonly seenOnce = new Map<bigint, true>();
  private bytes = 0;
  private readonly hits: Record<PromptCacheKind, number> = { render: 0, segment: 0 };
  private readonly misses: Record<PromptCacheKind, number> = { render: 0, segment: 0 };
  private counters: PromptCacheCounters | undefined;

  constructor(
    private readonly chatTemplate: ChatTemplate,
    private readonly tokenizer: Tokenizer,
    options: PromptCacheOptions = {},
    /** Where long texts are encoded (off the event loop); absent: all on the loop. */
    private readonly threads?: TokenizerThreads,
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_PROMPT_CACHE_BYTES;
    this.cachesRenders = chatTemplate.deterministic;
    this.segmentation = tokenizer instanceof HfTokenizer ? tokenizer.segmentation : undefined;
    this.cachesSegments = this.segmentation !== undefined;
  }

  /** Adds hits and misses from now on to these counters too. */
  countIn(counters: PromptCacheCounters): void {
    this.counters = counters;
  }

  /**
   * The prompt of `messages` and its ids: cached where exact, else rendered and encoded. A
   * promise when the text to encode is long enough for the tokenizer's threads.
   */
  chat(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions): RenderedPrompt | Promise<RenderedPrompt> {
    const key = this.cachesRenders ? renderKey(messages, options) : undefined;
    if (key === undefined) return this.render(messages, options);
    const hash = xxh3.xxh64(key, SEED.render);
    const hit = this.get(hash, "render", key);
    if (hit !== undefined) {
      this.count("render", 1, 0);
      return { prompt: hit.prompt, tokenIds: toArray(hit.tokenIds) };
    }
    this.count("render", 0, 1);
    const rendered = this.render(messages, options);
    if (rendered instanceof Promise) return rendered.then((r) => this.keepRender(hash, key, r));
    return this.keepRender(hash, key, rendered);
  }

  stats(): PromptCacheStats {
    return { hits: { ...this.hits }, misses: { ...this.misses }, entries: this.entries.size, bytes: this.bytes };
  }

  private keepRender(hash: bigint, key: string, rendered: RenderedPrompt): RenderedPrompt {
    if (this.admits(hash)) this.set(hash, { kind: "render", key, first: false, prompt: rendered.prompt, tokenIds: Uint32Array.from(rendered.tokenIds), bytes: ENTRY_OVERHEAD_BYTES + 2 * (key.length + rendered.prompt.length) + 4 * rendered.tokenIds.length });
    return rendered;
  }

  private render(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions): RenderedPrompt | Promise<RenderedPrompt> {
    if (this.segmentation === undefined) return renderPrompt(this.chatTemplate, this.tokenizer, messages, options, this.threads);
    const prompt = this.chatTemplate.render(messages, options);
    const sections = this.lookUpSections(this.segmentation, prompt);
    const missedChars = sections.misses.reduce((n, i) => n + (sections.parts[i] as string).length, 0);
    if (this.threads?.takes(missedChars)) return this.renderOffLoop(prompt, sections, this.threads);
    const segmentation = this.segmentation;
    const ids = this.joinSections(sections, (k) => {
      const i = sections.misses[k]!;
      return segmentation.encodeSection(sections.parts[i] as string, i === 0 && sections.first);
    });
    return { prompt, tokenIds: ids ?? encodeWhole(this.tokenizer, prompt) };
  }

  /** `render`'s sections encoded on the tokenizer's threads. */
  private async renderOffLoop(prompt: string, sections: SectionPlan, threads: TokenizerThreads): Promise<RenderedPrompt> {
    const texts = sections.misses.map((i) => sections.parts[i] as string);
    const firsts = sections.misses.map((i) => i === 0 && sections.first);
    const encoded = await threads.encodeSections(texts, firsts);
    const ids = this.joinSections(sections, (k) => encoded[k]);
    return { prompt, tokenIds: ids ?? (await encodePrompt(this.tokenizer, threads, prompt)) };
  }

  /** The prompt's sections, each known section's ids from the cache; the others to encode. */
  private lookUpSections(segmentation: PromptSegmentation, prompt: string): SectionPlan {
    const { parts, first } = segmentation.split(prompt);
    const cached: (ArrayLike<number> | undefined)[] = new Array(parts.length);
    const hashes: bigint[] = new Array(parts.length);
    const misses: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (typeof part === "number") continue;
      const isFirst = i === 0 && first;
      // The first section's ids may differ from the same text's elsewhere: its own entry.
      const hash = xxh3.xxh64(part, isFirst ? SEED.first : SEED.segment);
      hashes[i] = hash;
      const hit = this.get(hash, "segment", part, isFirst);
      if (hit !== undefined) cached[i] = hit.tokenIds;
      else misses.push(i);
    }
    return { parts, first, cached, hashes, misses };
  }

  /**
   * The prompt's ids: the cached sections' and the missed ones' (`encoded(k)`: the ids of the
   * k-th miss), which are cached. Undefined when a section cannot be encoded alone: the caller
   * encodes the whole prompt, as without a cache.
   */
  private joinSections(plan: SectionPlan, encoded: (k: number) => ArrayLike<number> | undefined): number[] | undefined {
    const { parts, first, cached, hashes } = plan;
    const ids: number[] = [];
    let hits = 0;
    let misses = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (typeof part === "number") {
        ids.push(part);
        continue;
      }
      let sectionIds = cached[i];
      if (sectionIds !== undefined) hits++;
      else {
        sectionIds = encoded(misses);
        misses++;
        if (sectionIds !== undefined) this.set(hashes[i]!, { kind: "segment", key: part, first: i === 0 && first, prompt: "", tokenIds: Uint32Array.from(sectionIds), bytes: ENTRY_OVERHEAD_BYTES + 2 * part.length + 4 * sectionIds.length });
      }
      if (sectionIds === undefined) {
        this.count("segment", hits, misses);
        return undefined;
      }
      for (let k = 0; k < sectionIds.length; k++) ids.push(sectionIds[k]!);
    }
    this.count("segment", hits, misses);
    return ids;
  }

  /** Whether a missed key is seen the second time (so it gets an entry); records it if not. */
  private admits(hash: bigint): boolean {
    if (this.seenOnce.delete(hash)) return true;
    this.seenOnce.set(hash, true);
    if (this.seenOnce.size > DOORKEEPER_HASHES) {
      for (const oldest of this.seenOnce.keys()) {
        this.seenOnce.delete(oldest);
        break;
      }
    }
    return false;
  }

  private get(hash: bigint, kind: PromptCacheKind, key: string, first = false): Entry | undefined {
    const e = this.entries.get(hash);
    if (e === undefined || e.kind !== kind || e.first !== first || e.key !== key) return undefined;
    // Most recently used last: eviction takes the Map's first entries.
    this.entries.delete(hash);
    this.entries.set(hash, e);
    return e;
  }

  private set(hash: bigint, e: Entry): void {
    // One entry may take an eighth of the cache at most, so that a huge prompt cannot flush it.
    if (e.bytes > this.maxBytes / 8) return;
    const old = this.entries.get(hash);
    if (old !== undefined) {
      this.entries.delete(hash);
      this.bytes -= old.bytes;
    }
    this.entries.set(hash, e);
    this.bytes += e.bytes;
    for (const [h, oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(h);
      this.bytes -= oldest.bytes;
    }
  }

  private count(kind: PromptCacheKind, hits: number, misses: number): void {
    this.hits[kind] += hits;
    this.misses[kind] += misses;
    if (this.counters !== undefined) {
      if (hits > 0) this.counters.hits[kind].inc(hits);
      if (misses > 0) this.counters.misses[kind].inc(misses);
    }
  }
}
