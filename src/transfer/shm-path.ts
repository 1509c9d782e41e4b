// The shared-memory path between agents on one host. A reader opens the owner's region file
// in /dev/shm and reads the range straight into its staging buffer: the payload never
// crosses a socket. The region's generation (file header, a seqlock) is read before and
// after: a commit or deregistration that overlapped the read is detected, and the read is
// retried (commit) or failed (deregistered). A writer stages its bytes in a file of the
// owner's directory and asks the owner, over the TCP channel, to commit it whole.
import { randomBytes } from "node:crypto";
import { closeSync, openSync, read, readSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { SHM_FLAG_DEREGISTERED, SHM_HEADER, SHM_MAGIC } from "./memory-region.ts";
import type { MemoryRegion } from "./memory-region.ts";
import type { Transfer } from "./transfer.ts";
import { TransferError } from "./transfer-error.ts";

/** Bytes per read syscall: big enough to run at memory speed, small enough to cancel between. */
const SHM_CHUNK = 8 << 20;
/** Up to this size a read is done synchronously: a thread-pool hop costs more than the copy. */
const SHM_SYNC_MAX = 4 << 20;
const BUSY_RETRIES = 5;

export function regionFilePath(dir: string, regionId: string): string {
  return join(dir, `${regionId}.region`);
}

const readAsync = promisify(read);

function readHeader(fd: number, header: Buffer, regionId: string, need: number): number {
  // Tiny and on tmpfs: synchronous.
  if (readSync(fd, header, 0, 24, 0) < 24 || header.readUInt32LE(0) !== SHM_MAGIC) {
    throw new TransferError("failed", `region file of ${regionId} is not a region`);
  }
  if (header.readUInt32LE(20) & SHM_FLAG_DEREGISTERED) throw new TransferError("deregistered", `region ${regionId} was deregistered`);
  const length = header.readDoubleLE(8);
  if (need > length) throw new TransferError("out-of-range", `range beyond region ${regionId} of ${length} bytes`);
  return header.readUInt32LE(16);
}

/**
 * Reads [offset, +staging.length) of a peer's region file into staging. Resolves once the
 * staging holds a snapshot no commit overlapped; returns early (without error) if the
 * transfer settles meanwhile (cancelled): the caller must not commit then.
 */
export async function readShm(t: Transfer, dir: string, regionId: string, offset: number, staging: Buffer): Promise<void> {
  let fd: number;
  try {
    fd = openSync(regionFilePath(dir, regionId), "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new TransferError("region-not-found", `no region ${regionId} in ${dir}`);
    throw new TransferError("failed", `cannot open region ${regionId}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const length = staging.length;
    const header = Buffer.allocUnsafe(24);
    for (let attempt = 0; attempt < BUSY_RETRIES; attempt++) {
      const before = readHeader(fd, header, regionId, offset + length);
      if (before & 1) {
        await new Promise((r) => setTimeout(r, 1 << attempt));
        continue;
      }
      for (let pos = 0; pos < length; ) {
        if (t.settled) return;
        const n = Math.min(SHM_CHUNK, length - pos);
        const got = length <= SHM_SYNC_MAX ? readSync(fd, staging, pos, n, SHM_HEADER + offset + pos) : (await readAsync(fd, staging, pos, n, SHM_HEADER + offset + pos)).bytesRead;
        if (got <= 0) throw new TransferError("failed", `region file of ${regionId} is short`);
        pos += got;
        if (attempt === 0) t.progress(got); // a retry re-reads: count the bytes once
      }
      if (readHeader(fd, header, regionId, offset + length) === before) return;
    }
    throw new TransferError("busy", `region ${regionId} kept changing during the read`);
  } finally {
    closeSync(fd);
  }
}

/** Stages [srcOffset, +length) of a local region in a file of the owner's shm dir. */
export async function stageShmWrite(t: Transfer, dir: string, source: MemoryRegion, srcOffset: number, length: number): Promise<string | null> {
  const path = join(dir, `incoming-${randomBytes(8).toString("hex")}`);
  const fh = await open(path, "wx", 0o600);
  let keep = false;
  try {
    const gen = source.generation;
    const chunk = Buffer.allocUnsafe(Math.min(SHM_CHUNK, Math.max(1, length)));
    for (let pos = 0; pos < length; ) {
      if (t.settled) return null;
      const n = Math.min(chunk.length, length - pos);
      source.readInto(chunk, 0, srcOffset + pos, n);
      await fh.write(chunk, 0, n, pos);
      pos += n;
      t.progress(n);
    }
    if (source.generation !== gen) throw new TransferError("busy", `source region ${source.regionId} changed during the write`);
    keep = !t.settled;
    return keep ? path : null;
  } finally {
    await fh.close();
    if (!keep) await unlink(path).catch(() => undefined);
  }
}
