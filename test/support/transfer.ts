// Shared helpers of the transfer-library tests.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { isTransferError } from "../../src/transfer/index.ts";
import type { Transfer, TransferFailure } from "../../src/transfer/index.ts";

export const MiB = 1 << 20;

/** Deterministic bytes that differ by seed and by offset (prime-length pattern). */
export function pattern(length: number, seed: number): Buffer {
  const unit = Buffer.allocUnsafe(4093);
  for (let i = 0; i < unit.length; i++) unit[i] = (i * 31 + seed * 7 + 1) & 255;
  return Buffer.alloc(length, unit);
}

export const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Asserts that the transfer fails with a TransferError of this reason; returns the error. */
export async function rejectsWith(t: Transfer | Promise<unknown>, reason: TransferFailure): Promise<unknown> {
  let caught: unknown = null;
  try {
    await t;
  } catch (e) {
    caught = e;
  }
  assert.ok(isTransferError(caught), `expected a TransferError (${reason}), got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}
