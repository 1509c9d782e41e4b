import type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";

/** Special tokens of the built-in byte-level model, in id order from 256. */
export const BYTE_SPECIAL_TOKENS = [
  "<|bos|>",
  "<|eos|>",
  "<|system|>",
  "<|user|>",
  "<|assistant|>",
  "<|tool|>",
] as const;

export const BYTE_BOS_TOKEN_ID = 256;
export const BYTE_EOS_TOKEN_ID = 257;
const NUM_BYTES = 256;
// Every special token starts with this, so a scan for specials only stops at it.
const SPECIAL_PREFIX = "<|";

const utf8Encoder = new TextEncoder();
// ignoreBOM: a U+FEFF at the start of generated text is content, not a byte-order mark.
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The built-in byte-level vocabulary: ids 0..255 are the UTF-8 bytes, ids from 256 the
 * special tokens of `BYTE_SPECIAL_TOKENS`. Any text encodes losslessly, one token per byte.
 */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = NUM_BYTES + BYTE_SPECIAL_TOKENS.length;
  readonly bosTokenId = BYTE_BOS_TOKEN_ID;
  readonly eosTokenIds: readonly number[] = [BYTE_EOS_TOKEN_ID];
  readonly specialTokens: readonly string[] = BYTE_SPECIAL_TOKENS;

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (options.addSpecialTokens === true) ids.push(BYTE_BOS_TOKEN_ID);
    if (options.parseSpecialTokens !== true) {
      pushBytes(ids, text);
      return ids;
    }
    let start = 0;
    let at = text.indexOf(SPECIAL_PREFIX);
    while (at !== -1) {
      const special = this.specialAt(text, at);
      if (special === -1) {
        at = text.indexOf(SPECIAL_PREFIX, at + 1);
        continue;
      }
      if (at > start) pushBytes(ids, text.slice(start, at));
      ids.push(NUM_BYTES + special);
      start = at + BYTE_SPECIAL_TOKENS[special]!.length;
      at = text.indexOf(SPECIAL_PREFIX, start);
    }
    if (start < text.length) pushBytes(ids, text.slice(start));
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (options.skipSpecialTokens === true) return utf8Decoder.decode(this.decodeBytes(ids));
    // Specials become their strings; the bytes between them are decoded run by run.
    let text = "";
    let runStart = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < NUM_BYTES) continue;
      if (i > runStart) text += utf8Decoder.decode(this.decodeBytes(ids.slice(runStart, i)));
      text += BYTE_SPECIAL_TOKENS[id - NUM_BYTES] ?? "";
      runStart = i + 1;
    }
    if (runStart < ids.length) text += utf8Decoder.decode(this.decodeBytes(ids.slice(runStart)));
    return text;
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    const bytes = new Uint8Array(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      // Specials and out-of-vocabulary ids have no bytes.
      if (id >= 0 && id < NUM_BYTES) bytes[n++] = id;
    }
    return n === ids.length ? bytes : bytes.subarray(0, n);
  }

  tokenToId(token: string): number | undefined {
    const special = BYTE_SPECIAL_TOKENS.indexOf(token as (typeof BYTE_SPECIAL_TOKENS)[number]);
    if (special !== -1) return NUM_BYTES + special;
    // A one-byte string is that byte's token; longer text is several tokens.
    if (token.length === 1 && token.charCodeAt(0) < 0x80) return token.charCodeAt(0);
    return undefined;
  }

  isSpecialToken(id: number): boolean {
    return id >= NUM_BYTES && id < this.vocabSize;
  }

  private specialAt(text: string, at: number): number {
    for (let s = 0; s < BYTE_SPECIAL_TOKENS.length; s++) {
      if (text.startsWith(BYTE_SPECIAL_TOKENS[s]!, at)) return s;
    }
    return -1;
  }
}

function pushBytes(ids: number[], text: string): void {
  const bytes = utf8Encoder.encode(text);
  for (let i = 0; i < bytes.length; i++) ids.push(bytes[i]!);
}
