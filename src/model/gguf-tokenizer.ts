// A GGUF model's own vocabulary through llama.cpp (the model loaded with `vocabOnly`), so the
// frontend's token ids are exactly the ones the engine evaluates and caches.
import type { LlamaModel, Token } from "node-llama-cpp";
import { TurbineError } from "../protocols/index.ts";
import { GgufTokenType } from "./gguf-format.ts";
import { readGgufHeader } from "./gguf-reader.ts";
import type { GgufHeader } from "./gguf-reader.ts";
import { sharedLlama } from "./llama-runtime.ts";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.ts";

export class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
  private readonly ids: Map<string, number>;
  private readonly special: Uint8Array;
  private readonly prependBos: boolean;
  private readonly appendEos: boolean;

  private constructor(
    private readonly model: LlamaModel,
    header: GgufHeader,
  ) {
    const tokens = header.metadata.get("tokenizer.ggml.tokens");
    const list = Array.isArray(tokens) ? tokens : [];
    const types = header.metadata.get("tokenizer.ggml.token_type");
    const typeList = Array.isArray(types) ? types : [];
    this.vocabSize = list.length;
    this.ids = new Map();
    this.special = new Uint8Array(list.length);
    const eos: number[] = [];
    for (let id = 0; id < list.length; id++) {
      const t = list[id];
      if (typeof t === "string" && !this.ids.has(t)) this.ids.set(t, id);
      const type = typeList[id];
      const eog = model.isEogToken(id as Token);
      if (eog) eos.push(id);
      if (eog || type === GgufTokenType.CONTROL || type === GgufTokenType.UNKNOWN) this.special[id] = 1;
    }
    const mainEos = model.tokens.eos;
    // The model's EOS first: the frontend treats the first id as "the" EOS.
    this.eosTokenIds = mainEos === null ? eos : [mainEos, ...eos.filter((id) => id !== mainEos)];
    this.bosTokenId = model.tokens.bos ?? undefined;
    this.prependBos = model.tokens.shouldPrependBosToken;
    this.appendEos = model.tokens.shouldAppendEosToken;
  }

  /** Loads the vocabulary of a GGUF file (no weights). */
  static async load(path: string, options: { header?: GgufHeader } = {}): Promise<GgufTokenizer> {
    const header = options.header ?? readGgufHeader(path);
    try {
      const llama = await sharedLlama();
      const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
      return new GgufTokenizer(model, header);
    } catch (cause) {
      throw new TurbineError("MODEL_LOAD_FAILED", `cannot load the vocabulary of ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.model.tokenize(text, options.parseSpecialTokens === true);
    if (options.addSpecialTokens === true) {
      if (this.prependBos && this.bosTokenId !== undefined && ids[0] !== this.bosTokenId) ids.unshift(this.bosTokenId as Token);
      if (this.appendEos && this.eosTokenIds[0] !== undefined) ids.push(this.eosTokenIds[0] as Token);
    }
    return ids as number[];
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (options.skipSpecialTokens === true) {
      // llama.cpp renders control tokens only when asked; filter EOG/unknown ids explicitly.
      const kept: number[] = [];
      for (const id of ids) if (!this.isSpecialToken(id)) kept.push(id);
      return this.model.detokenize(kept as Token[], false);
    }
    return this.model.detokenize(ids as Token[], true);
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  isSpecialToken(id: number): boolean {
    return this.special[id] === 1;
  }

  /** Releases the vocabulary. */
  async close(): Promise<void> {
    await this.model.dispose();
  }
}
