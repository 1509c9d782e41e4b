// W3C trace context across the request planes. A caller's span context travels as a small
// carrier (`traceparent`, `tracestate`) in an optional field of the request-plane envelope;
// the serving side hands it to the handler (HandlerContext.trace), which continues the trace.
// Without an OpenTelemetry SDK (tracing off, the default) the API is a no-op: nothing is
// injected, the field is absent, and no span is recorded.
import { ProxyTracerProvider, ROOT_CONTEXT, propagation, trace } from "@opentelemetry/api";
import type { Context, Tracer } from "@opentelemetry/api";

/** The W3C trace-context headers of one call, as text fields. */
export type TraceCarrier = Record<string, string>;

// What the global provider delegates to while no SDK is registered (a fresh proxy's delegate).
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * Whether an OpenTelemetry SDK is registered (tracing on). Checked per request on the hot
 * path, so that with tracing off no span, context or attribute object is made at all.
 */
export function tracingActive(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_SDK;
}

/** The tracer every Turbine subsystem records its spans with. */
export function turbineTracer(): Tracer {
  return trace.getTracer("turbine");
}

/** The carrier for `ctx`, or undefined when there is nothing to carry (tracing off, no span). */
export function injectTrace(ctx: Context): TraceCarrier | undefined {
  if (!trace.getSpanContext(ctx)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier);
  return carrier["traceparent"] ? carrier : undefined;
}

/** The context a carrier continues (the root context when there is none). */
export function extractTrace(carrier: TraceCarrier | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** Values the envelope may carry as a trace carrier: plain string fields only. */
export function asTraceCarrier(value: unknown): TraceCarrier | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const out: TraceCarrier = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out["traceparent"] ? out : undefined;
}
