// Token ids to text, one batch at a time, never emitting a broken UTF-8 character.
import { TextDecoder } from "node:util";
import type { Tokenizer } from "../model/index.ts";

export interface IncrementalDetokenizerOptions {
  /** Leave special tokens (EOS, role markers) out of the text. Default true. */
  skipSpecialTokens?: boolean;
}

const REPLACEMENT_CHAR = "\uFFFD";
/**
 * Tokens that may arrive without adding text while the window ends in U+FFFD. The rest of an
 * incomplete UTF-8 character is at most 3 bytes, hence at most 3 tokens: beyond that the U+FFFD
 * is the model's own invalid output, emitted rather than held forever.
 */
const MAX_STUCK_TOKENS = 4;

/**
 * Incremental detokenizer. Two strategies, chosen once per request:
 *
 * - byte-exact tokenizers (`decodeBytes`, with special tokens skipped): the bytes go through a
 *   streaming UTF-8 decoder, which keeps an incomplete character's bytes until the rest arrives;
 * - any other tokenizer: the prefix-offset/read-offset window of vLLM and HF TGI. The text of
 *   `window[0:read]` was already emitted; decode the whole window, and emit what follows that
 *   text unless it ends in U+FFFD (an incomplete character). Decoding a window with some context
 *   before the new tokens keeps word-boundary spaces (SentencePiece "▁") right.
 */
export class IncrementalDetokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly skipSpecialTokens: boolean;
  private readonly utf8: TextDecoder | null;
  // Window strategy: token ids from the prefix offset on, and the read offset within them.
  private window: number[] = [];
  private read = 0;
  /** Text of window[0:read], computed lazily after the window moves. */
  private prefixText: string | null = "";
  // While the window ends in U+FFFD: its text's length without the trailing U+FFFDs, and the
  // tokens pushed since that length last grew.
  private heldLength = -1;
  private stuckTokens = 0;

  constructor(tokenizer: Tokenizer, options: IncrementalDetokenizerOptions = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = options.skipSpecialTokens ?? true;
    this.utf8 =
      this.skipSpecialTokens && tokenizer.decodeBytes !== undefined
        ? new TextDecoder("utf-8", { ignoreBOM: true })
        : null;
  }

  /** Feeds the next token ids; returns the text that is now complete (may be ""). */
  push(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    if (this.utf8 !== null) return this.utf8.decode(this.tokenizer.decodeBytes!(ids), { stream: true });
    for (let i = 0; i < ids.length; i++) this.window.push(ids[i]!);
    const prefix = this.prefix();
    const text = this.decode(this.window);
    if (text.endsWith(REPLACEMENT_CHAR)) {
      let length = text.length - 1;
      while (length > 0 && text.charCodeAt(length - 1) === 0xfffd) length--;
      if (length > this.heldLength) {
        this.heldLength = length;
        this.stuckTokens = 0;
      } else {
        this.stuckTokens += ids.length;
      }
      if (this.stuckTokens <= MAX_STUCK_TOKENS) return "";
    }
    if (text.length <= prefix.length) return "";
    // The new read offset becomes the next prefix offset.
    this.window = this.window.slice(this.read);
    this.read = this.window.length;
    this.prefixText = null;
    this.heldLength = -1;
    this.stuckTokens = 0;
    return text.slice(cutAt(text, prefix.length));
  }

  /** At the end of the stream: whatever was held back (an incomplete character becomes U+FFFD). */
  flush(): string {
    if (this.utf8 !== null) return this.utf8.decode();
    const prefix = this.prefix();
    const text = this.decode(this.window);
    this.window = [];
    this.read = 0;
    this.prefixText = "";
    this.heldLength = -1;
    this.stuckTokens = 0;
    return text.length > prefix.length ? text.slice(cutAt(text, prefix.length)) : "";
  }

  private prefix(): string {
    if (this.prefixText === null) this.prefixText = this.decode(this.window.slice(0, this.read));
    return this.prefixText;
  }

  private decode(ids: readonly number[]): string {
    return ids.length === 0 ? "" : this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens });
  }
}

/**
 * Where the new text starts. Normally the prefix's length; after invalid bytes were emitted as
 * U+FFFD the texts can disagree, and the cut must not split a surrogate pair.
 */
function cutAt(text: string, at: number): number {
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff && at > 0 ? at + 1 : at;
}
