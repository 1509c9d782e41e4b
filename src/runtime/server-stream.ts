// The serving side of one call on a remote request plane: runs the handler through
// relayHandler and sends its items as the caller's credit allows, so a slow caller slows
// the handler (the caller grants credit as it consumes; see caller-stream.ts).
import { relayHandler } from "./request-plane.ts";
import type { StreamHandler } from "./request-plane.ts";

export interface ServerStreamSink {
  data(item: unknown): void;
  end(): void;
  error(error: unknown): void;
}

export class ServerStream {
  private readonly ctrl = new AbortController();
  private credit: number;
  private wake: (() => void) | null = null;

  constructor(initialCredit: number) {
    this.credit = initialCredit;
  }

  get aborted(): boolean {
    return this.ctrl.signal.aborted;
  }

  grant(n: number): void {
    this.credit += n;
    this.wakeUp();
  }

  /** The caller cancelled, or its connection dropped: aborts the handler. */
  cancel(): void {
    if (this.ctrl.signal.aborted) return;
    this.ctrl.abort();
    this.wakeUp();
  }

  /** Resolves when the handler is done or aborted; reports through the sink unless aborted. */
  async run(handler: StreamHandler, request: unknown, instanceId: string, sink: ServerStreamSink): Promise<void> {
    const gen = relayHandler(handler, request, instanceId, this.ctrl.signal);
    try {
      for (;;) {
        while (this.credit <= 0 && !this.ctrl.signal.aborted) {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
        if (this.ctrl.signal.aborted) return;
        const r = await gen.next();
        if (r.done) {
          sink.end();
          return;
        }
        this.credit--;
        sink.data(r.value);
      }
    } catch (e) {
      if (!this.ctrl.signal.aborted) sink.error(e);
    } finally {
      // Runs relayHandler's cleanup when we stopped early (abort while out of credit).
      await gen.return(undefined).catch(() => undefined);
    }
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
