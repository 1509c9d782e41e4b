// Traces across processes: a frontend, a prefill worker and a decode worker, each exporting
// OTLP/HTTP (JSON) to a receiver inside the test, over the TCP and then the NATS request plane.
// One request is one trace: the frontend's HTTP, preprocess, route and request-plane spans, and
// on each worker `worker.generate` (a child of the frontend's hop) with its phases.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { ROOT_CONTEXT } from "@opentelemetry/api";
import { injectTrace } from "../../src/runtime/index.ts";
import { tracingRequested } from "../../src/cli/index.ts";
import { health, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
}
interface ReceivedSpan extends OtlpSpan {
  service: string;
  attrs: Record<string, string | number | boolean>;
}

/** An OTLP/HTTP receiver that decodes the JSON encoding. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly paths = new Set<string>();
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        this.paths.add(`${req.url} ${req.headers["content-type"]}`);
        if (req.url === "/v1/traces") this.decode(JSON.parse(body) as { resourceSpans: unknown[] });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private decode(body: { resourceSpans: unknown[] }): void {
    type Rs = { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] };
    for (const rs of body.resourceSpans as Rs[]) {
      const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          const attrs: Record<string, string | number | boolean> = {};
          for (const a of s.attributes ?? []) attrs[a.key] = a.value.stringValue ?? a.value.doubleValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.boolValue!);
          this.spans.push({ ...s, service, attrs });
        }
      }
    }
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

test("deploy - tracing is off unless the standard OTEL_* variables turn it on", () => {
  assert.equal(tracingRequested({}), false);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }), true);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: "console" }), true);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }), false);
  assert.equal(tracingRequested({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }), false);
  // No SDK in this process: nothing would go into the request-plane envelope.
  assert.equal(injectTrace(ROOT_CONTEXT), undefined);
});

for (const plane of ["tcp", "nats"] as const) {
  describe(`deploy - one request across frontend, prefill and decode workers is one trace (${plane} request plane)`, () => {
    const receiver = new OtlpReceiver();
    const saved = { ...process.env };
    before(async () => {
      await receiver.start();
      // The child processes inherit these.
      Object.assign(process.env, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_LOGS_EXPORTER: "none",
        OTEL_METRICS_EXPORTER: "none",
      });
    });
    const fx = useCluster();
    after(async () => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      await receiver.close();
    });

    test(`deploy - spans of the frontend and both workers share one trace and link parent to child (${plane})`, { timeout: 120_000 }, async () => {
      const cluster = { ...fx.cluster, requestPlane: plane };
      const mock = ["--engine", "mocker", "--model-name", "traced", "--speedup", "10"];
      const prefill = fx.track(await startWorker(cluster, [...mock, "--role", "prefill"]));
      const decode = fx.track(await startWorker(cluster, [...mock, "--role", "decode"]));
      const frontend = fx.track(await startFrontend(cluster, ["--max-local-prefill-tokens", "0"]));
      await until("the decode worker", () => health(frontend.id), (h) => h.find((m) => m.model === "traced")?.workers === 1);
      await until("the prefill worker", () => health(frontend.id).then((h) => h as unknown as { prefillWorkers: number }[]), (h) => h[0]?.prefillWorkers === 1);

      const res = await fetch(`${frontend.id}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "traced", prompt: "a prompt long enough to prefill remotely ".repeat(4), max_tokens: 8, ignore_eos: true }),
      });
      assert.equal(res.status, 200);
      await res.json();
      const requestId = res.headers.get("x-request-id")!;

      const root = await until(
        "the frontend's request span",
        async () => receiver.spans.find((s) => s.attrs["turbine.request_id"] === requestId && s.name === "POST /v1/completions"),
        (s) => s !== undefined,
      );
      const traceId = root!.traceId;
      const ofTrace = (): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === traceId);
      const spans = await until("the workers' spans", async () => ofTrace(), (list) => list.filter((s) => s.name === "decode" || s.name === "kv_export").length === 2, 30_000);

      const names = spans.map((s) => s.name).sort();
      for (const n of ["POST /v1/completions", "preprocess", "route", "request_plane.call", "worker.generate", "queue", "prefill", "decode", "kv_transfer", "kv_export"]) {
        assert.ok(names.includes(n), `span ${n} in the trace (have ${names.join(", ")})`);
      }
      assert.equal(root!.service, "turbine-frontend");
      assert.equal(root!.attrs["http.response.status_code"], 200);
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const parentOf = (s: ReceivedSpan): ReceivedSpan | undefined => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);

      // The frontend's own spans hang off the request span.
      for (const s of spans.filter((x) => x.name === "preprocess" || x.name === "route" || x.name === "request_plane.call")) {
        assert.equal(parentOf(s)?.spanId, root!.spanId, `${s.name} is a child of the request`);
        assert.equal(s.service, "turbine-frontend");
      }
      const routes = spans.filter((s) => s.name === "route");
      const decodeRoute = routes.find((s) => s.attrs["turbine.role"] === "decode")!;
      assert.equal(decodeRoute.attrs["turbine.worker_id"], decode.id);
      assert.equal(typeof decodeRoute.attrs["turbine.overlap_blocks"], "number");
      assert.equal(typeof decodeRoute.attrs["turbine.cost"], "number");
      assert.equal(routes.find((s) => s.attrs["turbine.role"] === "prefill")?.attrs["turbine.worker_id"], prefill.id);

      // Each worker continues the trace under the frontend's hop to it.
      const generates = spans.filter((s) => s.name === "worker.generate");
      assert.deepEqual(generates.map((g) => g.attrs["turbine.worker_id"]).sort(), [decode.id, prefill.id].sort());
      for (const g of generates) {
        const hop = parentOf(g);
        assert.equal(hop?.name, "request_plane.call", "worker.generate's parent is the frontend's hop");
        assert.equal(hop.attrs["turbine.worker_id"], g.attrs["turbine.worker_id"]);
        assert.equal(g.service, "turbine-worker");
      }
      const phaseOf = (name: string, worker: string): ReceivedSpan | undefined =>
        spans.find((s) => s.name === name && parentOf(s)?.name === "worker.generate" && parentOf(s)!.attrs["turbine.worker_id"] === worker);
      for (const n of ["queue", "prefill", "kv_export"]) assert.ok(phaseOf(n, prefill.id), `prefill worker: ${n}`);
      for (const n of ["kv_transfer", "queue", "prefill", "decode"]) assert.ok(phaseOf(n, decode.id), `decode worker: ${n}`);
      assert.equal(phaseOf("kv_transfer", decode.id)!.attrs["turbine.kv_transfer.outcome"], "ok");
      assert.ok([...receiver.paths].some((p) => p.startsWith("/v1/traces application/json")), "OTLP/HTTP with the JSON encoding");
    });
  });
}
