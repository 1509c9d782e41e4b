// Staging buffers: where a transfer's bytes land before the commit. Reusing them matters: a
// fresh 256 MiB buffer costs tens of thousands of page faults, more than the copy itself.
// Retains freed buffers up to a byte budget; hands out the smallest one that fits.
export class StagingPool {
  private readonly free: Buffer[] = [];
  private retained = 0;

  constructor(private readonly maxRetainedBytes: number) {}

  /** A buffer of exactly `length` bytes (a view of a pooled one); contents undefined. */
  take(length: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= length && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best >= 0 && this.free[best]!.length <= length * 2) {
      const b = this.free.splice(best, 1)[0]!;
      this.retained -= b.length;
      return b.subarray(0, length);
    }
    return Buffer.allocUnsafeSlow(length);
  }

  /** Gives a buffer from take() back. Only once nothing writes into it any more. */
  give(view: Buffer): void {
    // Only buffers that own their whole memory (never a slice of Node's shared slab).
    if (view.byteOffset !== 0) return;
    const whole = Buffer.from(view.buffer, 0, view.buffer.byteLength);
    if (whole.length < 64 * 1024 || whole.length > this.maxRetainedBytes) return;
    while (this.retained + whole.length > this.maxRetainedBytes && this.free.length > 0) {
      this.retained -= this.free.shift()!.length;
    }
    this.free.push(whole);
    this.retained += whole.length;
  }

  clear(): void {
    this.free.length = 0;
    this.retained = 0;
  }
}
