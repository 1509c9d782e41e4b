// GGUF v3 constants shared by the writer and the reader (ggml's gguf.h / GGUF spec).

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** The ggml tensor types the writer produces (the reader accepts any id). */
export const GgmlType = { F32: 0, F16: 1 } as const;

/** SentencePiece token types (llama.cpp's llama_token_type). */
export const GgufTokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** A metadata value as read: numbers (u64/i64 as bigint), strings, booleans, arrays. */
export type GgufValue = number | bigint | string | boolean | GgufValue[];
