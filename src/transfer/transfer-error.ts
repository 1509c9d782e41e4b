// Failures of the transfer library: one error class with a structured `reason`, mapped onto
// the existing TurbineError codes (protocols has no TRANSFER_* codes yet; see README).
import { TurbineError } from "../protocols/index.ts";
import type { ErrorCode } from "../protocols/index.ts";

export type TransferFailure =
  | "cancelled" // the caller's AbortSignal or Transfer.cancel()
  | "connection-lost" // the peer's socket closed mid-transfer (peer died)
  | "unreachable" // cannot connect to the peer
  | "region-not-found" // no such region on the owning agent
  | "deregistered" // the region was deregistered while the transfer used it
  | "out-of-range" // descriptor outside its region, or lengths that differ
  | "busy" // a shm/TCP read overlapped a commit into the region (retry)
  | "not-connected" // descriptor of an agent this agent never connected to
  | "invalid" // malformed descriptor or metadata
  | "closed" // the agent was closed
  | "failed"; // anything else (I/O error, protocol error)

const CODE_OF: Record<TransferFailure, ErrorCode> = {
  cancelled: "RUNTIME_CANCELLED",
  "connection-lost": "RUNTIME_CONNECTION_LOST",
  unreachable: "RUNTIME_NO_INSTANCE",
  "region-not-found": "ENGINE_FAILED",
  deregistered: "ENGINE_FAILED",
  "out-of-range": "ENGINE_FAILED",
  busy: "ENGINE_FAILED",
  "not-connected": "ENGINE_FAILED",
  invalid: "INTERNAL",
  closed: "ENGINE_FAILED",
  failed: "ENGINE_FAILED",
};

const REASONS = new Set<string>(Object.keys(CODE_OF));

export class TransferError extends TurbineError {
  /** Why the transfer failed; match on this, never on the message. */
  readonly reason: TransferFailure;

  constructor(reason: TransferFailure, message: string, options: { cause?: unknown } = {}) {
    super(CODE_OF[reason], message, options);
    this.reason = reason;
  }
}

export const isTransferError = (e: unknown): e is TransferError => e instanceof TransferError;

/** Reason from the wire (a peer's error frame); unknown ones read as "failed". */
export function asTransferFailure(s: unknown): TransferFailure {
  return typeof s === "string" && REASONS.has(s) ? (s as TransferFailure) : "failed";
}

/** Any thrown value as a TransferError (I/O errors become "failed"). */
export function toTransferError(e: unknown): TransferError {
  if (e instanceof TransferError) return e;
  return new TransferError("failed", e instanceof Error ? e.message : String(e), { cause: e });
}
