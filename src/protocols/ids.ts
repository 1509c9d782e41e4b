// Branded identifiers: distinct types for distinct ids and hashes, so that a worker id
// can never be passed where a request id is expected, nor a local hash for a sequence hash.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** One running instance of a worker (unique across the fleet). */
export type WorkerId = Brand<string, "WorkerId">;
/** One request, as named in `x-request-id`. */
export type RequestId = Brand<string, "RequestId">;
/** XXH3-64 (seed 1337) of one block's token ids as little-endian u32. */
export type LocalBlockHash = Brand<bigint, "LocalBlockHash">;
/** Chained hash of a block and every block before it: equal iff the prefixes are equal. */
export type SequenceHash = Brand<bigint, "SequenceHash">;

export const asWorkerId = (s: string): WorkerId => s as WorkerId;
export const asRequestId = (s: string): RequestId => s as RequestId;
export const asLocalBlockHash = (h: bigint): LocalBlockHash => h as LocalBlockHash;
export const asSequenceHash = (h: bigint): SequenceHash => h as SequenceHash;
