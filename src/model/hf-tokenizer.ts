import { Tokenizer as HfCoreTokenizer } from "@huggingface/tokenizers";
import { TurbineError } from "../protocols/index.ts";
import { segmentationOf } from "./special-token-segments.ts";
import type { PromptSegmentation } from "./special-token-segments.ts";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";

/** Ids from outside tokenizer_config.json (generation_config.json, config.json). */
export interface HfTokenizerOptions {
  /** Appended, without duplicates, after the id of `eos_token`. */
  extraEosTokenIds?: readonly number[];
  /** Used when tokenizer_config.json names no `bos_token`. */
  defaultBosTokenId?: number;
}

/** A token field of tokenizer_config.json: a string or an AddedToken object `{content}`. */
export function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return undefined;
}

// Fields of tokenizer_config.json that @huggingface/tokenizers reads as plain strings.
const TOKEN_FIELDS = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) through
 * `@huggingface/tokenizers`. Added tokens are always matched in text, as in `transformers`.
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
  private readonly core: HfCoreTokenizer;
  private readonly vocab: readonly (string | undefined)[];
  private readonly specialIds: ReadonlySet<number>;
  private readonly pipelineConfig: object;
  private segments: PromptSegmentation | undefined | null = null;

  /** Throws TurbineError MODEL_LOAD_FAILED when the JSON does not describe a tokenizer. */
  constructor(tokenizerJson: object, tokenizerConfig: Record<string, unknown>, options: HfTokenizerOptions = {}) {
    const config: Record<string, unknown> = { ...tokenizerConfig };
    for (const field of TOKEN_FIELDS) {
      if (field in config) config[field] = tokenContent(config[field]);
    }
    if (Array.isArray(config.additional_special_tokens)) {
      config.additional_special_tokens = config.additional_special_tokens
        .map(tokenContent)
        .filter((t): t is string => t !== undefined);
    }
    try {
      this.core = new HfCoreTokenizer(tokenizerJson, config);
    } catch (cause) {
      throw new TurbineError("MODEL_LOAD_FAILED", `invalid tokenizer: ${(cause as Error).message}`, { cause });
    }
    // The model's id-to-token table, added tokens included (the core writes them into it).
    this.vocab = this.core.model?.vocab ?? [];
    this.vocabSize = this.vocab.length;

    const specialIds = new Set<number>();
    for (const [id, token] of this.core.get_added_tokens_decoder()) {
      if (token.special) specialIds.add(id);
    }
    for (const token of (config.additional_special_tokens as string[] | undefined) ?? []) {
      const id = this.core.token_to_id(token);
      if (id !== undefined) specialIds.add(id);
    }
    this.specialIds = specialIds;
    const { pre_tokenizer, post_processor } = tokenizerJson as { pre_tokenizer?: unknown; post_processor?: unknown };
    this.pipelineConfig = { pre_tokenizer, post_processor };

    const bos = tokenContent(config.bos_token);
    this.bosTokenId = (bos === undefined ? undefined : this.core.token_to_id(bos)) ?? options.defaultBosTokenId;
    const eos = tokenContent(config.eos_token);
    const eosId = eos === undefined ? undefined : this.core.token_to_id(eos);
    const eosTokenIds = eosId === undefined ? [] : [eosId];
    for (const id of options.extraEosTokenIds ?? []) {
      if (!eosTokenIds.includes(id)) eosTokenIds.push(id);
    }
    this.eosTokenIds = eosTokenIds;
  }

  /**
   * The encoding of a text section by section, between its added tokens (see
   * special-token-segments.ts), where it is exact for this tokenizer; decided and checked on
   * the first call.
   */
  get segmentation(): PromptSegmentation | undefined {
    if (this.segments === null) this.segments = segmentationOf(this.core, this.pipelineConfig);
    return this.segments;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.core.encode(text, { add_special_tokens: options.addSpecialTokens === true }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    // The core throws on an empty list and on ids outside the vocabulary: drop those ids instead,
    // an engine's stray id must not kill the stream.
    let known: number[] | undefined;
    for (let i = 0; i < ids.length; i++) {
      if (this.vocab[ids[i]!] === undefined) {
        known = ids.filter((id) => this.vocab[id] !== undefined);
        break;
      }
    }
    const list = known ?? (ids as number[]);
    if (list.length === 0) return "";
    // No clean-up of tokenization spaces: it would make a window's text differ from a prefix of
    // the longer window's text, which incremental detokenization relies on.
    return this.core.decode(list, {
      skip_special_tokens: options.skipSpecialTokens === true,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.core.token_to_id(token);
  }

  isSpecialToken(id: number): boolean {
    return this.specialIds.has(id);
  }
}
