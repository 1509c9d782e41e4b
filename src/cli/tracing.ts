// OpenTelemetry for a Turbine process, off unless the standard OTEL_* variables ask for it:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (OTLP, protocol from
// OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf by default, http/json, grpc), or OTEL_TRACES_EXPORTER
// (otlp, console, zipkin). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keep it off.
// The Node SDK reads the rest (sampler, batch delays, resource attributes, headers) itself.
// The SDK (about a second to load) is imported only when tracing is on.

export interface Tracing {
  /** Flushes the spans not yet exported and stops the SDK. */
  shutdown(): Promise<void>;
}

/** Whether the environment turns tracing on. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return false;
  const exporters = env["OTEL_TRACES_EXPORTER"]?.split(",").map((s) => s.trim()).filter((s) => s.length > 0) ?? [];
  if (exporters.includes("none")) return false;
  return exporters.length > 0 || Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
}

/** Starts the SDK when the environment asks for it; null (and nothing started) otherwise. */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing | null> {
  if (!tracingRequested(env)) return null;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, names the service; else the process role does.
    ...(env["OTEL_SERVICE_NAME"] ? {} : { serviceName }),
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
