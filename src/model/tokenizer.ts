/** Options of `Tokenizer.encode`. */
export interface EncodeOptions {
  /**
   * Add the tokenizer's own special tokens around the text (BOS, as Hugging Face's
   * `add_special_tokens`). Default false: a rendered chat template already carries them,
   * so only raw completion prompts should ask for them.
   */
  addSpecialTokens?: boolean;
  /**
   * Encode special-token strings found in the text (`<|eos|>`) as those tokens. Default false.
   * Only a rendered chat template should set it, so that user text cannot forge control tokens.
   * Hugging Face tokenizers always match their added tokens in text (as `transformers` does by
   * default) and ignore this flag.
   */
  parseSpecialTokens?: boolean;
}

/** Options of `Tokenizer.decode`. */
export interface DecodeOptions {
  /** Leave special tokens (BOS, EOS, role markers) out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

/**
 * A model's vocabulary: text to token ids and back.
 *
 * `decode` is what every tokenizer can do; an incremental detokenizer decodes a short window of
 * ids and emits only text that does not end in U+FFFD (see `src/frontend/detokenizer.ts`).
 * Tokenizers whose tokens are exact byte strings also offer `decodeBytes`, which lets the
 * detokenizer stream bytes through a UTF-8 decoder instead: exact and O(1) per token.
 */
export interface Tokenizer {
  /** Number of token ids (the largest id plus one). */
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  /** Ids that end generation (EOS and end-of-turn tokens). */
  readonly eosTokenIds: readonly number[];
  encode(text: string, options?: EncodeOptions): number[];
  /** Text of `ids`. Never cleans up tokenization spaces, so that windows stay prefix-consistent. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** UTF-8 bytes of the non-special tokens of `ids`; present only on byte-exact tokenizers. */
  decodeBytes?(ids: readonly number[]): Uint8Array;
  /** Id of a token string (a special token or a vocabulary entry), or undefined. */
  tokenToId(token: string): number | undefined;
  /** Whether `id` is a special token (skipped by `skipSpecialTokens`). */
  isSpecialToken(id: number): boolean;
}
