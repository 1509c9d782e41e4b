// A registered memory region: the owner's bytes that peers read and write by descriptor.
// Two backings: heap (a Buffer; peers reach it over TCP) and shm (a file in the agent's
// /dev/shm directory that same-host peers open and read directly).
//
// Every change goes through write(), synchronous, so within the owning process a commit is
// atomic with respect to everything else the event loop runs. Readers detect commits that
// overlap them with a generation counter (a seqlock): odd while a commit is in progress,
// bumped by two per commit. The shm backing mirrors it in the file's header so readers in
// other processes can check it too.
import { closeSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import type { TransferDescriptor } from "./descriptor.ts";
import { TransferError } from "./transfer-error.ts";

export type RegionKind = "heap" | "shm";

/** Header of a region file: magic, generation (u32), flags (u32: 1 = deregistered), length. */
export const SHM_HEADER = 64;
export const SHM_MAGIC = 0x4e425554; // "TUBN" little-endian
export const SHM_FLAG_DEREGISTERED = 1;

/** Called when the region is deregistered, to fail the transfers using it. */
export type RegionUser = (error: TransferError) => void;

export abstract class MemoryRegion {
  abstract readonly kind: RegionKind;
  private live = true;
  protected gen = 0;
  /** Transfers using the region (either end); failed on deregistration. */
  readonly users = new Set<RegionUser>();

  constructor(
    readonly agentId: string,
    readonly regionId: string,
    readonly length: number,
  ) {}

  get registered(): boolean {
    return this.live;
  }

  /** Even; changes with every commit. A read that sees it unchanged saw no commit. */
  get generation(): number {
    return this.gen;
  }

  /** A descriptor of [offset, offset + length) of this region. */
  descriptor(offset = 0, length = this.length - offset): TransferDescriptor {
    this.checkRange(offset, length);
    return { agentId: this.agentId, regionId: this.regionId, offset, length };
  }

  /** A copy of [offset, offset + length). */
  read(offset = 0, length = this.length - offset): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readInto(out, 0, offset, length);
    return out;
  }

  readInto(target: Uint8Array, targetOffset: number, offset: number, length: number): void {
    this.checkLive();
    this.checkRange(offset, length);
    if (targetOffset < 0 || targetOffset + length > target.length) {
      throw new TransferError("out-of-range", `target too small for ${length} bytes at ${targetOffset}`);
    }
    this.readRange(target, targetOffset, offset, length);
  }

  /** Writes data at offset, all at once (the commit of every transfer into this region). */
  write(data: Uint8Array, offset = 0): void {
    this.checkLive();
    this.checkRange(offset, data.length);
    this.setGeneration(this.gen + 1);
    try {
      this.writeRange(data, offset);
    } finally {
      this.setGeneration(this.gen + 1);
    }
  }

  /**
   * Commits a transfer's staging buffer at offset. Returns the buffer the caller may reuse:
   * the staging itself, or (heap region, whole range) the region's old backing, since the
   * commit was a pointer swap instead of a copy.
   */
  commitStaging(staging: Buffer, offset: number): Buffer {
    this.write(staging, offset);
    return staging;
  }

  checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new TransferError("out-of-range", `range [${offset}, +${length}) outside region ${this.regionId} of ${this.length} bytes`);
    }
  }

  checkLive(): void {
    if (!this.live) throw new TransferError("deregistered", `region ${this.regionId} is deregistered`);
  }

  /** Marks the region gone, fails its users, frees the backing. Called by the agent. */
  release(): void {
    if (!this.live) return;
    this.live = false;
    const error = new TransferError("deregistered", `region ${this.regionId} was deregistered`);
    for (const user of [...this.users]) user(error);
    this.users.clear();
    this.dispose();
  }

  protected setGeneration(gen: number): void {
    this.gen = gen;
  }

  protected abstract readRange(target: Uint8Array, targetOffset: number, offset: number, length: number): void;
  protected abstract writeRange(data: Uint8Array, offset: number): void;
  protected abstract dispose(): void;
}

export class HeapRegion extends MemoryRegion {
  readonly kind = "heap";
  private buf: Buffer;

  constructor(agentId: string, regionId: string, length: number) {
    super(agentId, regionId, length);
    this.buf = Buffer.alloc(length);
  }

  // The backing buffer never leaves this class, so a commit of the whole region can swap it.
  override commitStaging(staging: Buffer, offset: number): Buffer {
    const whole = offset === 0 && staging.length === this.length && staging.byteOffset === 0 && staging.buffer.byteLength === staging.length;
    if (!whole || this.length === 0) return super.commitStaging(staging, offset);
    this.checkLive();
    const old = this.buf;
    this.setGeneration(this.gen + 1);
    this.buf = staging;
    this.setGeneration(this.gen + 1);
    return old;
  }

  protected readRange(target: Uint8Array, targetOffset: number, offset: number, length: number): void {
    this.buf.copy(target, targetOffset, offset, offset + length);
  }

  protected writeRange(data: Uint8Array, offset: number): void {
    this.buf.set(data, offset);
  }

  protected dispose(): void {
    this.buf = Buffer.alloc(0);
  }
}

// Syscalls move at most ~2 GiB at a time; loop over short reads/writes.
const IO_STEP = 1 << 30;

export class ShmRegion extends MemoryRegion {
  readonly kind = "shm";
  private fd: number;
  private readonly header = Buffer.alloc(16);

  constructor(
    agentId: string,
    regionId: string,
    length: number,
    readonly path: string,
  ) {
    super(agentId, regionId, length);
    // 0600: peers are processes of the same user on this host.
    this.fd = openSync(path, "wx+", 0o600);
    ftruncateSync(this.fd, SHM_HEADER + length);
    this.header.writeUInt32LE(SHM_MAGIC, 0);
    this.header.writeUInt32LE(0, 4);
    this.header.writeDoubleLE(length, 8);
    writeSync(this.fd, this.header, 0, 16, 0);
    this.writeState(0, 0);
  }

  protected override setGeneration(gen: number): void {
    super.setGeneration(gen);
    this.writeState(gen, 0);
  }

  protected readRange(target: Uint8Array, targetOffset: number, offset: number, length: number): void {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, targetOffset + done, Math.min(IO_STEP, length - done), SHM_HEADER + offset + done);
      if (n <= 0) throw new TransferError("failed", `short read from region file ${this.path}`);
      done += n;
    }
  }

  protected writeRange(data: Uint8Array, offset: number): void {
    let done = 0;
    while (done < data.length) {
      done += writeSync(this.fd, data, done, Math.min(IO_STEP, data.length - done), SHM_HEADER + offset + done);
    }
  }

  protected dispose(): void {
    // Tombstone first: a peer that has the file open sees it deregistered at its next check.
    try {
      this.writeState(this.gen + 2, SHM_FLAG_DEREGISTERED);
    } catch {
      // the file is going anyway
    }
    closeSync(this.fd);
    this.fd = -1;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone (agent dir removed)
    }
  }

  private writeState(gen: number, flags: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32LE(gen >>> 0, 0);
    b.writeUInt32LE(flags, 4);
    writeSync(this.fd, b, 0, 8, 16);
  }
}
