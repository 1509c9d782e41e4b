// The spans of one request on a worker: `worker.generate` (continuing the caller's trace from
// the request-plane envelope) with its phases as children, one after the other: `queue` (until
// the engine takes the request into its batch: GenerateOptions.onScheduled), `prefill` (until
// the first token), `decode` (until the end); and `kv_transfer` when the KV is pulled from a
// prefill worker. With tracing off every method is a no-op on a non-recording span.
import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Attributes, Context, Span } from "@opentelemetry/api";
import { extractTrace, tracingActive, turbineTracer } from "../runtime/index.ts";
import type { TraceCarrier } from "../runtime/index.ts";

export class WorkerRequestTrace {
  private phase: Span | null = null;
  private phaseName = "";
  private ended = false;

  private constructor(
    private readonly root: Span,
    private readonly ctx: Context,
  ) {}

  /**
   * Every request's trace while tracing is off. Shared: with a non-recording span every
   * method returns before it changes anything (but `ended`, which nothing reads then).
   */
  private static readonly off = new WorkerRequestTrace(trace.wrapSpanContext(INVALID_SPAN_CONTEXT), ROOT_CONTEXT);

  /** Starts the request's spans; `attributes` is called only when tracing is on. */
  static start(carrier: TraceCarrier | undefined, attributes: () => Attributes): WorkerRequestTrace {
    // Tracing off: one shared no-op trace, no span, context or attributes per request.
    if (!tracingActive()) return WorkerRequestTrace.off;
    const parent = extractTrace(carrier);
    const root = turbineTracer().startSpan("worker.generate", { kind: SpanKind.SERVER, attributes: attributes() }, parent);
    return new WorkerRequestTrace(root, trace.setSpan(parent, root));
  }

  get recording(): boolean {
    return this.root.isRecording();
  }

  /** Ends the current phase and starts `name`. */
  begin(name: string, attributes?: Attributes): void {
    if (!this.root.isRecording() || this.ended) return;
    this.phase?.end();
    this.phaseName = name;
    this.phase = turbineTracer().startSpan(name, { attributes }, this.ctx);
  }

  /** Sets attributes on the current phase. */
  annotate(attributes: Attributes): void {
    this.phase?.setAttributes(attributes);
  }

  /** The engine took the request into its batch (GenerateOptions.onScheduled). */
  readonly scheduled = (): void => {
    if (this.phaseName === "queue") this.begin("prefill");
  };

  /** The first token: prefill is over. An engine that never said when it scheduled the request gets one span for both. */
  firstToken(): void {
    if (this.phaseName === "queue") this.phase?.updateName("queue+prefill");
    this.begin("decode");
  }

  finish(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (err !== undefined) {
      const message = err instanceof Error ? err.message : String(err);
      this.phase?.setStatus({ code: SpanStatusCode.ERROR, message });
      this.root.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    this.phase?.end();
    this.root.end();
  }
}
