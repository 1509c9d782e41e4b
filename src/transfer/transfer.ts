// One transfer in flight: a handle that is also a promise. It settles once: resolved when
// the destination holds every byte (committed), rejected with a TransferError otherwise, in
// which case the destination was not touched.
import { TransferError } from "./transfer-error.ts";

export type TransferPath = "shm" | "tcp" | "local";
export type TransferDirection = "read" | "write";

export interface TransferOptions {
  signal?: AbortSignal;
  /** Called with the bytes moved so far (payload arrived, not yet committed). */
  onProgress?: (bytesTransferred: number) => void;
}

let nextTransferId = 1;

export class Transfer implements PromiseLike<void> {
  readonly id = nextTransferId++;
  /** Settles with the transfer; await the Transfer itself or this. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (e: TransferError) => void;
  private moved = 0;
  private state: "running" | "succeeded" | "failed" = "running";
  private readonly cleanups: Array<() => void> = [];
  /** Set by a path while the outcome is the peer's to decide (a write's commit in flight). */
  cancelHook: ((error: TransferError) => boolean) | null = null;

  constructor(
    readonly direction: TransferDirection,
    readonly path: TransferPath,
    readonly length: number,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A transfer nobody awaits must not crash the process with an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get bytesTransferred(): number {
    return this.moved;
  }

  get settled(): boolean {
    return this.state !== "running";
  }

  get status(): "running" | "succeeded" | "failed" {
    return this.state;
  }

  /** Cancels: rejects with reason "cancelled" unless the commit already happened. */
  cancel(reason?: unknown): void {
    if (this.settled) return;
    this.interrupt(new TransferError("cancelled", `transfer ${this.id} cancelled`, { cause: reason }));
  }

  /** Stops the transfer with this error, or, once a commit is in the peer's hands, asks it to drop it. */
  interrupt(error: TransferError): void {
    if (this.settled) return;
    if (this.cancelHook?.(error)) return;
    this.fail(error);
  }

  then<A = void, B = never>(
    onfulfilled?: ((value: void) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    return this.done.then(onfulfilled, onrejected);
  }

  // --- for the paths ---

  progress(n: number): void {
    this.moved += n;
    this.onProgress?.(this.moved);
  }

  /** Runs when the transfer settles, either way (release staging, send cancel, unhook). */
  onSettle(fn: () => void): void {
    if (this.settled) fn();
    else this.cleanups.push(fn);
  }

  succeed(): void {
    if (this.settled) return;
    this.state = "succeeded";
    this.runCleanups();
    this.resolveDone();
  }

  fail(error: TransferError): void {
    if (this.settled) return;
    this.state = "failed";
    this.runCleanups();
    this.rejectDone(error);
  }

  private runCleanups(): void {
    for (let i = this.cleanups.length - 1; i >= 0; i--) {
      try {
        this.cleanups[i]!();
      } catch {
        // a cleanup must not stop the others
      }
    }
    this.cleanups.length = 0;
  }
}
