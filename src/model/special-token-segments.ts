// A rendered prompt tokenized section by section, so that a cache can keep each section's ids by
// content (a system prompt, the earlier turns of a conversation). It follows what
// `@huggingface/tokenizers` (0.2) does in `encode_text`: split the text at its unnormalized added
// tokens (a trie, longest match first), let `lstrip`/`rstrip` tokens trim their neighbours, then
// normalize, pre-tokenize and encode every other section on its own. A section's ids therefore
// depend on its text alone, and on one bit of position: Metaspace's `prepend_scheme: "first"`
// only prepends to the text's first section. With `add_special_tokens: false` every post-processor
// passes the tokens through. The split below finds the same cuts as the library's trie with one
// regular expression (the same tokens, longest first: leftmost, then longest, as the trie; some
// 40 times faster on a long prompt) and trims with the library's own added-token map;
// `segmentationOf` checks that the library has what the split reads and, on probes made of the
// tokenizer's own added tokens, that the sections' ids joined are the whole text's ids, before
// it offers the split.
import type { Tokenizer as HfCoreTokenizer } from "@huggingface/tokenizers";

/** A rendered prompt's sections: exact only where `segmentationOf` says so. */
export interface PromptSegmentation {
  split(text: string): PromptSections;
  /**
   * The ids of one text section of `split` (`first`: the text's first section), or undefined
   * when they cannot be had alone (then encode the whole text).
   */
  encodeSection(text: string, first: boolean): number[] | undefined;
}

/** A text's sections in order, empty ones left out. */
export interface PromptSections {
  /** Text sections (to encode with `encodeSection`) and the ids of the added tokens between them. */
  parts: (string | number)[];
  /** Whether `parts[0]` is a text and the text's first section. */
  first: boolean;
}

/** The parts of the library's tokenizer the split reads; checked at run time, not typed by it. */
interface CoreInternals {
  added_tokens_map?: Map<string, { id: number; lstrip: boolean; rstrip: boolean }>;
  added_tokens?: { id: number; content: string; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer?: unknown;
}

// Post-processors that, without special tokens, return the tokens unchanged (read in the library).
const PASS_THROUGH_POST_PROCESSORS = new Set(["ByteLevel", "TemplateProcessing", "BertProcessing", "RobertaProcessing"]);

interface ComponentConfig {
  type?: string;
  prepend_scheme?: string;
  pretokenizers?: ComponentConfig[];
  processors?: ComponentConfig[];
}

function components(config: ComponentConfig | null | undefined): ComponentConfig[] {
  if (config === null || config === undefined) return [];
  return [config, ...(config.pretokenizers ?? []).flatMap(components), ...(config.processors ?? []).flatMap(components)];
}

/**
 * The section-wise encoding of a tokenizer, when it is exact: the library exposes what the split
 * needs, its post-processor passes tokens through, and probes encode the same whole and by
 * sections. `tokenizerJson` is the tokenizer.json the core was built from.
 */
export function segmentationOf(core: HfCoreTokenizer, tokenizerJson: object): PromptSegmentation | undefined {
  const internals = core as unknown as CoreInternals;
  const added = internals.added_tokens_map;
  if (!(added instanceof Map) || !Array.isArray(internals.added_tokens)) return undefined;
  const json = tokenizerJson as { pre_tokenizer?: ComponentConfig | null; post_processor?: ComponentConfig | null };
  const post = components(json.post_processor).filter((c) => c.type !== "Sequence");
  if (!post.every((c) => c.type !== undefined && PASS_THROUGH_POST_PROCESSORS.has(c.type))) return undefined;
  const positional = components(json.pre_tokenizer).some((c) => c.type === "Metaspace" && c.prepend_scheme === "first");
  // A later section is encoded behind an anchor, an added token the splitter cuts at that
  // leaves its right neighbour alone, so that it is not the first section.
  const normalizes = internals.normalizer !== null && internals.normalizer !== undefined;
  // The tokens the library matches in raw text (its `splitter_unnormalized`).
  const unnormalized = internals.added_tokens.filter((t) => !(t.normalized && normalizes));
  const anchor = positional ? unnormalized.find((t) => !t.rstrip) : undefined;
  if (positional && anchor === undefined) return undefined;
  const split = splitterOf(unnormalized.map((t) => t.content));
  const encode = (text: string): number[] => core.encode(text, { add_special_tokens: false }).ids;

  const segmentation: PromptSegmentation = {
    split(text) {
      const sections = split(text);
      // As the library: a token's lstrip/rstrip trims the sections beside it, in order.
      for (let i = 0; i < sections.length; i++) {
        const token = added.get(sections[i]!);
        if (token === undefined) continue;
        if (token.lstrip && i > 0) sections[i - 1] = sections[i - 1]!.trimEnd();
        if (token.rstrip && i < sections.length - 1) sections[i + 1] = sections[i + 1]!.trimStart();
      }
      const parts: (string | number)[] = [];
      let first = false;
      for (let i = 0; i < sections.length; i++) {
        const s = sections[i]!;
        if (s.length === 0) continue;
        const token = added.get(s);
        if (token !== undefined) parts.push(token.id);
        else {
          // Only section 0 is first, even where the sections before a later one were emptied.
          if (i === 0) first = true;
          parts.push(s);
        }
      }
      return { parts, first };
    },
    encodeSection(text, first) {
      if (first || anchor === undefined) return encode(text);
      const ids = encode(anchor.content + text);
      return ids[0] === anchor.id ? ids.slice(1) : undefined;
    },
  };
  try {
    return selfCheck(segmentation, encode, internals.added_tokens) ? segmentation : undefined;
  } catch {
    // A probe the library cannot encode: the whole text is encoded as before.
    return undefined;
  }
}

/** The library's DictionarySplitter as a regular expression: the cuts at its tokens, and the text between. */
function splitterOf(contents: readonly string[]): (text: string) => string[] {
  const alternatives = contents
    .filter((c) => c.length > 0)
    .sort((a, b) => b.length - a.length)
    .map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (alternatives.length === 0) return (text) => (text.length > 0 ? [text] : []);
  // No `u` flag: code units, as the trie walks them.
  const cuts = new RegExp(alternatives.join("|"), "g");
  return (text) => {
    const sections: string[] = [];
    let start = 0;
    cuts.lastIndex = 0;
    for (let m = cuts.exec(text); m !== null; m = cuts.exec(text)) {
      if (m.index > start) sections.push(text.slice(start, m.index));
      sections.push(m[0]);
      start = m.index + m[0].length;
    }
    if (start < text.length) sections.push(text.slice(start));
    return sections;
  };
}

// Texts around the probes' added tokens: whitespace at the edges, unicode that normalizers
// change (combining marks, NFKC forms), digits, code points beyond the BMP, byte-fallback bait.
const PROBE_TEXTS = [
  "system\nYou are a helpful assistant.",
  " Hello world ",
  "\n\n",
  "  ",
  "user\n  indented\ttabs\t\n",
  "e\u0301 caf\u00e9 \uff21\uff22 \ufb01",
  "12345 67,890.5",
  "\u4e16\u754c \ud83c\udf89\u200d\ud83d\udc4d",
  "\u00a0nbsp\u2009thin ",
  "assistant\n",
  "x",
];

/** Whether sections joined give the whole text's ids on probes made of the tokenizer's tokens. */
function selfCheck(segmentation: PromptSegmentation, encode: (text: string) => number[], tokens: readonly { content: string; lstrip?: boolean; rstrip?: boolean; special: boolean }[]): boolean {
  // Specials first, then the tokens that strip their neighbours (the hard cases), a dozen at most.
  const picked = [
    ...tokens.filter((t) => t.lstrip === true || t.rstrip === true).slice(0, 6),
    ...tokens.filter((t) => t.special).slice(0, 6),
    ...tokens.filter((t) => !t.special).slice(0, 2),
  ].map((t) => t.content);
  if (picked.length === 0) return true;
  const probes: string[] = [];
  for (let p = 0; p < PROBE_TEXTS.length; p++) {
    let text = p % 2 === 0 ? "" : picked[p % picked.length]!;
    for (let k = 0; k < 4; k++) text += PROBE_TEXTS[(p + k) % PROBE_TEXTS.length]! + picked[(p + k) % picked.length]!;
    probes.push(text + PROBE_TEXTS[(p + 5) % PROBE_TEXTS.length]!);
  }
  for (const text of probes) {
    const whole = encode(text);
    const { parts, first } = segmentation.split(text);
    const joined: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (typeof part === "number") {
        joined.push(part);
        continue;
      }
      const ids = segmentation.encodeSection(part, i === 0 && first);
      if (ids === undefined) return false;
      for (const id of ids) joined.push(id);
    }
    if (joined.length !== whole.length || joined.some((id, i) => id !== whole[i])) return false;
  }
  return true;
}
