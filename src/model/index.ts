// model: tokenizers, chat templates and model cards. Depends on protocols only.
export type { Tokenizer, EncodeOptions, DecodeOptions } from "./tokenizer.ts";
export { ByteTokenizer, BYTE_SPECIAL_TOKENS, BYTE_BOS_TOKEN_ID, BYTE_EOS_TOKEN_ID } from "./byte-tokenizer.ts";
export { HfTokenizer } from "./hf-tokenizer.ts";
export type { HfTokenizerOptions } from "./hf-tokenizer.ts";
export { ChatTemplate, BYTE_CHAT_TEMPLATE, PLAIN_CHAT_TEMPLATE } from "./chat-template.ts";
export type { ChatMessage, ChatContentPart, ChatTemplateRenderOptions, ChatTemplateTokens } from "./chat-template.ts";
export {
  loadHuggingFaceModel,
  builtinByteModel,
  loadTokenizer,
  loadModelForCard,
  chatTemplateForCard,
  completeModelCard,
  BYTE_MODEL_NAME,
  BYTE_MODEL_CONTEXT_LENGTH,
  FALLBACK_CONTEXT_LENGTH,
} from "./model-card.ts";
export type { ModelCardDraft, LoadedModel, LoadHuggingFaceModelOptions, ModelCardWorkerFields } from "./model-card.ts";
