// model: tokenizers, chat templates and model cards. Depends on protocols only.
export type { Tokenizer, EncodeOptions, DecodeOptions } from "./tokenizer.ts";
export { ByteTokenizer, BYTE_SPECIAL_TOKENS, BYTE_BOS_TOKEN_ID, BYTE_EOS_TOKEN_ID } from "./byte-tokenizer.ts";
export { HfTokenizer } from "./hf-tokenizer.ts";
export type { HfTokenizerOptions } from "./hf-tokenizer.ts";
export type { PromptSegmentation, PromptSections } from "./special-token-segments.ts";
export { ChatTemplate, BYTE_CHAT_TEMPLATE, PLAIN_CHAT_TEMPLATE } from "./chat-template.ts";
export type { ChatMessage, ChatContentPart, ChatTemplateRenderOptions, ChatTemplateTokens } from "./chat-template.ts";
export { GgufTokenizer } from "./gguf-tokenizer.ts";
export { readGgufHeader, ggufModelInfo } from "./gguf-reader.ts";
export type { GgufHeader, GgufTensorInfo, GgufModelInfo } from "./gguf-reader.ts";
export {
  writeGguf,
  writeRandomLlamaGguf,
  buildSpmVocabulary,
  toF16Bits,
  GGUF_PRESETS,
  GGUF_PRESET_NAMES,
  RANDOM_BOS_ID,
  RANDOM_EOS_ID,
  RANDOM_UNK_ID,
  RANDOM_ROLE_TOKENS,
  RANDOM_CHAT_TEMPLATE,
} from "./gguf-writer.ts";
export type {
  GgufWriteValue,
  GgufWriteTensor,
  GgufPresetName,
  LlamaShape,
  RandomLlamaOptions,
  RandomLlamaInfo,
  SpmVocabulary,
} from "./gguf-writer.ts";
export { GGUF_MAGIC, GGUF_VERSION, GgufValueType, GgufTokenType } from "./gguf-format.ts";
export type { GgufValue } from "./gguf-format.ts";
export { sharedLlama } from "./llama-runtime.ts";
export type { LlamaRuntimeOptions } from "./llama-runtime.ts";
export {
  loadGgufModel,
  loadHuggingFaceModel,
  builtinByteModel,
  loadTokenizer,
  loadModelForCard,
  withTokenizerDigest,
  chatTemplateForCard,
  completeModelCard,
  BYTE_MODEL_NAME,
  BYTE_MODEL_CONTEXT_LENGTH,
  FALLBACK_CONTEXT_LENGTH,
} from "./model-card.ts";
export type { LoadGgufModelOptions, LoadModelForCardOptions } from "./model-card.ts";
export { readTokenizerFiles, tokenizerFileChunks, tokenizerFilesDigest, tokenizerFilesFromChunks, cacheTokenizerFiles, GGUF_VOCAB_FILE } from "./tokenizer-files.ts";
export type { TokenizerFile } from "./tokenizer-files.ts";
export { TokenizerThreads, tokenizerRunsInThreads, DEFAULT_TOKENIZER_THREAD_MIN_CHARS } from "./tokenizer-threads.ts";
export type { TokenizerThreadOptions, TokenizerThreadCounters, TokenizerThreadStats } from "./tokenizer-threads.ts";
export type { ModelCardDraft, LoadedModel, LoadHuggingFaceModelOptions, ModelCardWorkerFields } from "./model-card.ts";
