import { readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { DEFAULT_KV_BLOCK_SIZE, TurbineError } from "../protocols/index.ts";
import type { ModelCard, TokenizerFileChunk, TokenizerSource, WorkerRole } from "../protocols/index.ts";
import { BYTE_SPECIAL_TOKENS, ByteTokenizer } from "./byte-tokenizer.ts";
import { BYTE_CHAT_TEMPLATE, ChatTemplate, PLAIN_CHAT_TEMPLATE } from "./chat-template.ts";
import { GgufTokenizer } from "./gguf-tokenizer.ts";
import { ggufModelInfo, readGgufHeader } from "./gguf-reader.ts";
import { HfTokenizer, tokenContent } from "./hf-tokenizer.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { cacheTokenizerFiles, readTokenizerFiles, tokenizerFilesDigest, tokenizerFilesFromChunks } from "./tokenizer-files.ts";

/** A model card before a worker adds what only it knows: its KV capacity and its role. */
export type ModelCardDraft = Omit<ModelCard, "numKvBlocks" | "role">;

/** A model ready for a frontend or worker: its card, tokenizer and compiled chat template. */
export interface LoadedModel<T extends Tokenizer = Tokenizer> {
  card: ModelCardDraft;
  tokenizer: T;
  /** The model's template, or the plain "role: content" one when it has none. */
  chatTemplate: ChatTemplate;
}

export interface LoadHuggingFaceModelOptions {
  /** Name clients use in `model`. Default: the folder's name. */
  name?: string;
  /** Overrides the context length read from the folder. */
  contextLength?: number;
  kvBlockSize?: number;
}

/** What the worker fills in. */
export interface ModelCardWorkerFields {
  numKvBlocks: number;
  role: WorkerRole;
  /** Overrides the draft's block size (the engine's real one). */
  kvBlockSize?: number;
  /** Whether the worker's engine publishes KV events (absent: the card's default, true). */
  publishesKvEvents?: boolean;
}

export const BYTE_MODEL_NAME = "turbine-byte";
export const BYTE_MODEL_CONTEXT_LENGTH = 32768;
/** When neither config.json nor tokenizer_config.json gives a usable length. */
export const FALLBACK_CONTEXT_LENGTH = 4096;
// transformers writes a huge sentinel (1e30) into model_max_length when it is unknown.
const MAX_SANE_CONTEXT_LENGTH = 1 << 30;

/** The card a worker registers: the draft plus its capacity and role. */
export function completeModelCard(draft: ModelCardDraft, fields: ModelCardWorkerFields): ModelCard {
  const card: ModelCard = {
    ...draft,
    kvBlockSize: fields.kvBlockSize ?? draft.kvBlockSize,
    numKvBlocks: fields.numKvBlocks,
    role: fields.role,
  };
  if (fields.publishesKvEvents !== undefined) card.publishesKvEvents = fields.publishesKvEvents;
  return card;
}

/** The built-in byte-level model: no files, any text, a small chat template. */
export function builtinByteModel(): LoadedModel<ByteTokenizer> {
  const tokenizer = new ByteTokenizer();
  const bosToken = BYTE_SPECIAL_TOKENS[0];
  const eosToken = BYTE_SPECIAL_TOKENS[1];
  return {
    card: {
      name: BYTE_MODEL_NAME,
      tokenizer: { kind: "byte" },
      chatTemplate: BYTE_CHAT_TEMPLATE,
      contextLength: BYTE_MODEL_CONTEXT_LENGTH,
      kvBlockSize: DEFAULT_KV_BLOCK_SIZE,
      eosTokenIds: [...tokenizer.eosTokenIds],
      bosTokenId: tokenizer.bosTokenId,
      bosToken,
      eosToken,
    },
    tokenizer,
    chatTemplate: new ChatTemplate(BYTE_CHAT_TEMPLATE, { bosToken, eosToken }),
  };
}

/**
 * Loads a Hugging Face model folder: tokenizer.json (required), tokenizer_config.json,
 * config.json, generation_config.json and chat_template.jinja (optional). Throws TurbineError
 * MODEL_LOAD_FAILED, naming the path, for a missing folder, a missing tokenizer.json or bad JSON.
 */
export async function loadHuggingFaceModel(
  folder: string,
  options: LoadHuggingFaceModelOptions = {},
): Promise<LoadedModel<HfTokenizer>> {
  const path = resolve(folder);
  try {
    if (!(await stat(path)).isDirectory()) throw new Error("not a directory");
  } catch (cause) {
    throw new TurbineError("MODEL_LOAD_FAILED", `model folder not found: ${path}`, { cause });
  }
  const tokenizerJson = await readJson(join(path, "tokenizer.json"), true);
  const tokenizerConfig = (await readJson(join(path, "tokenizer_config.json"), false)) ?? {};
  const config = (await readJson(join(path, "config.json"), false)) ?? {};
  const generationConfig = (await readJson(join(path, "generation_config.json"), false)) ?? {};
  const templateFile = await readText(join(path, "chat_template.jinja"));

  const bosToken = tokenContent(tokenizerConfig.bos_token);
  const eosToken = tokenContent(tokenizerConfig.eos_token);
  let tokenizer: HfTokenizer;
  try {
    // EOS: the tokenizer's eos_token first, then generation_config's and config's ids.
    const defaultBosTokenId = firstId(generationConfig.bos_token_id) ?? firstId(config.bos_token_id);
    tokenizer = new HfTokenizer(tokenizerJson!, tokenizerConfig, {
      extraEosTokenIds: idList(generationConfig.eos_token_id, config.eos_token_id),
      ...(defaultBosTokenId === undefined ? {} : { defaultBosTokenId }),
    });
  } catch (cause) {
    throw withPath(cause, join(path, "tokenizer.json"));
  }

  const templateSource = pickChatTemplate(tokenizerConfig.chat_template) ?? templateFile;
  let chatTemplate: ChatTemplate;
  try {
    chatTemplate = new ChatTemplate(templateSource ?? PLAIN_CHAT_TEMPLATE, { bosToken, eosToken });
  } catch (cause) {
    throw withPath(cause, join(path, "tokenizer_config.json"));
  }

  const card: ModelCardDraft = {
    name: options.name ?? basename(path),
    tokenizer: { kind: "huggingface", path },
    contextLength: options.contextLength ?? contextLengthOf(config, tokenizerConfig),
    kvBlockSize: options.kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE,
    eosTokenIds: [...tokenizer.eosTokenIds],
  };
  if (templateSource !== undefined) card.chatTemplate = templateSource;
  if (tokenizer.bosTokenId !== undefined) card.bosTokenId = tokenizer.bosTokenId;
  if (bosToken !== undefined) card.bosToken = bosToken;
  if (eosToken !== undefined) card.eosToken = eosToken;
  return { card, tokenizer, chatTemplate };
}

export interface LoadGgufModelOptions {
  /** Name clients use in `model`. Default: the file's name without ".gguf". */
  name?: string;
  /** Overrides the context length read from the file. */
  contextLength?: number;
  kvBlockSize?: number;
}

/**
 * Loads a GGUF file's card (architecture, context length, chat template, BOS/EOS) from its
 * header, and its vocabulary through llama.cpp (no weights). Throws MODEL_LOAD_FAILED.
 */
export async function loadGgufModel(
  file: string,
  options: LoadGgufModelOptions = {},
): Promise<LoadedModel<GgufTokenizer> & { architecture: string }> {
  const path = resolve(file);
  const header = readGgufHeader(path);
  const info = ggufModelInfo(header);
  const tokenizer = await GgufTokenizer.load(path, { header });
  let chatTemplate: ChatTemplate;
  try {
    chatTemplate = new ChatTemplate(info.chatTemplate ?? PLAIN_CHAT_TEMPLATE, {
      ...(info.bosToken !== undefined ? { bosToken: info.bosToken } : {}),
      ...(info.eosToken !== undefined ? { eosToken: info.eosToken } : {}),
    });
  } catch (cause) {
    throw withPath(cause, path);
  }
  const card: ModelCardDraft = {
    name: options.name ?? basename(path).replace(/\.gguf$/i, ""),
    tokenizer: { kind: "gguf", path },
    contextLength: options.contextLength ?? info.contextLength ?? FALLBACK_CONTEXT_LENGTH,
    kvBlockSize: options.kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE,
    eosTokenIds: [...tokenizer.eosTokenIds],
  };
  if (info.chatTemplate !== undefined) card.chatTemplate = info.chatTemplate;
  if (tokenizer.bosTokenId !== undefined) card.bosTokenId = tokenizer.bosTokenId;
  if (info.bosToken !== undefined) card.bosToken = info.bosToken;
  if (info.eosToken !== undefined) card.eosToken = info.eosToken;
  return { card, tokenizer, chatTemplate, architecture: info.architecture };
}

/** The tokenizer a model card names (a frontend calls this when it discovers a card). */
export async function loadTokenizer(source: TokenizerSource): Promise<Tokenizer> {
  switch (source.kind) {
    case "byte":
      return new ByteTokenizer();
    case "huggingface":
      return (await loadHuggingFaceModel(source.path)).tokenizer;
    case "gguf":
      return GgufTokenizer.load(source.path);
  }
}

export interface LoadModelForCardOptions {
  /** Fetches the card's tokenizer files from the worker that registered it (MODEL_FILES_ENDPOINT). */
  fetchTokenizerFiles?: () => Promise<TokenizerFileChunk[]>;
  /** Where fetched files are kept (default: a folder under the OS temp dir). */
  cacheDir?: string;
  /** Told where the tokenizer came from: the card's path, or fetched from the worker. */
  onTokenizerSource?: (from: "path" | "worker") => void;
}

/**
 * What a frontend needs to serve a discovered card: its tokenizer and its compiled template.
 * The template is the card's text (the worker chose it). The tokenizer comes from the card's
 * path when this process can read the same content there (digest checked), else from the
 * worker's files, fetched and cached by digest. `source` is where it was loaded from (the
 * frontend's tokenizer threads load theirs from there too).
 */
export async function loadModelForCard(
  card: Pick<ModelCard, "tokenizer" | "chatTemplate" | "bosToken" | "eosToken">,
  options: LoadModelForCardOptions = {},
): Promise<{ tokenizer: Tokenizer; chatTemplate: ChatTemplate; source: TokenizerSource }> {
  const chatTemplate = chatTemplateForCard(card);
  const source = card.tokenizer;
  if (source.kind === "byte") return { tokenizer: new ByteTokenizer(), chatTemplate, source };
  let local: Error | undefined;
  try {
    if (source.sha256 !== undefined) {
      const digest = tokenizerFilesDigest(await readTokenizerFiles(source));
      if (digest !== source.sha256) throw new TurbineError("MODEL_LOAD_FAILED", `${source.path} here differs from the worker's (digest ${digest})`);
    }
    const tokenizer = await loadTokenizer(source);
    options.onTokenizerSource?.("path");
    return { tokenizer, chatTemplate, source };
  } catch (err) {
    local = err as Error;
  }
  if (source.sha256 === undefined || !options.fetchTokenizerFiles) throw local;
  const files = tokenizerFilesFromChunks(await options.fetchTokenizerFiles());
  const path = await cacheTokenizerFiles(source.kind, files, source.sha256, options.cacheDir);
  const fetched: TokenizerSource = { kind: source.kind, path };
  const tokenizer = await loadTokenizer(fetched);
  options.onTokenizerSource?.("worker");
  return { tokenizer, chatTemplate, source: fetched };
}

/** The card with its tokenizer files' digest (worker side), and the files it serves to frontends. */
export async function withTokenizerDigest<C extends { tokenizer: TokenizerSource }>(
  card: C,
): Promise<{ card: C; files: Awaited<ReturnType<typeof readTokenizerFiles>> }> {
  const source = card.tokenizer;
  if (source.kind === "byte") return { card, files: [] };
  const files = await readTokenizerFiles(source);
  return { card: { ...card, tokenizer: { ...source, sha256: tokenizerFilesDigest(files) } }, files };
}

/** The chat template of a card: its own, or the plain "role: content" one. */
export function chatTemplateForCard(card: Pick<ModelCard, "chatTemplate" | "bosToken" | "eosToken">): ChatTemplate {
  const tokens: { bosToken?: string; eosToken?: string } = {};
  if (card.bosToken !== undefined) tokens.bosToken = card.bosToken;
  if (card.eosToken !== undefined) tokens.eosToken = card.eosToken;
  return new ChatTemplate(card.chatTemplate ?? PLAIN_CHAT_TEMPLATE, tokens);
}

/** tokenizer_config.json's chat_template: a string, or a list of {name, template} (take "default"). */
function pickChatTemplate(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const chosen = named.find((t) => t?.name === "default") ?? (named.length === 1 ? named[0] : undefined);
    return typeof chosen?.template === "string" ? chosen.template : undefined;
  }
  return undefined;
}

function contextLengthOf(config: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): number {
  for (const value of [config.max_position_embeddings, tokenizerConfig.model_max_length]) {
    if (typeof value === "number" && Number.isInteger(value) && value > 0 && value <= MAX_SANE_CONTEXT_LENGTH) {
      return value;
    }
  }
  return FALLBACK_CONTEXT_LENGTH;
}

function firstId(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (Array.isArray(value) && typeof value[0] === "number") return value[0];
  return undefined;
}

/** The integer ids of several fields, each a number or a list of numbers. */
function idList(...values: unknown[]): number[] {
  const ids: number[] = [];
  for (const value of values) {
    const list = Array.isArray(value) ? value : [value];
    for (const id of list) {
      if (typeof id === "number" && Number.isInteger(id) && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TurbineError("MODEL_LOAD_FAILED", `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** A JSON object file; undefined when absent and not required. */
async function readJson(file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const text = await readText(file);
  if (text === undefined) {
    if (!required) return undefined;
    throw new TurbineError("MODEL_LOAD_FAILED", `missing ${file}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new TurbineError("MODEL_LOAD_FAILED", `bad JSON in ${file}: ${(cause as Error).message}`, { cause });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TurbineError("MODEL_LOAD_FAILED", `${file} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function withPath(cause: unknown, file: string): TurbineError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new TurbineError("MODEL_LOAD_FAILED", `${file}: ${message}`, { cause });
}
