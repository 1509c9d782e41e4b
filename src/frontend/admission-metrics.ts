// Metrics of admission, per tenant and per priority class, on the frontend's registry.
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";

const WAIT_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class AdmissionMetrics {
  readonly requests: Counter<"tenant" | "class" | "status">;
  readonly inputTokens: Counter<"tenant" | "class">;
  readonly outputTokens: Counter<"tenant" | "class">;
  readonly throttled: Counter<"tenant" | "limit">;
  readonly queued: Counter<"tenant" | "class">;
  readonly queueRejected: Counter<"model" | "class" | "reason">;
  readonly queueWait: Histogram<"tenant" | "class">;
  readonly queueLength: Gauge<"model" | "class">;
  readonly sharedStore: Gauge;
  /** Read at scrape time: 1 while limits are shared, 0 otherwise. */
  sharedProbe: () => number = () => 0;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: "turbine_tenant_requests_total", help: "Requests by tenant, priority class and final HTTP status", labelNames: ["tenant", "class", "status"], registers });
    this.inputTokens = new Counter({ name: "turbine_tenant_input_tokens_total", help: "Prompt tokens admitted, by tenant and class", labelNames: ["tenant", "class"], registers });
    this.outputTokens = new Counter({ name: "turbine_tenant_output_tokens_total", help: "Tokens generated, by tenant and class", labelNames: ["tenant", "class"], registers });
    this.throttled = new Counter({ name: "turbine_tenant_throttled_total", help: "Requests refused with 429, by tenant and the limit hit", labelNames: ["tenant", "limit"], registers });
    this.queued = new Counter({ name: "turbine_tenant_queued_total", help: "Requests that waited in the admission queue, by tenant and class", labelNames: ["tenant", "class"], registers });
    this.queueRejected = new Counter({
      name: "turbine_admission_queue_rejected_total",
      help: "Requests that left the admission queue without a worker: full, evicted (by a higher class), timeout, disconnected",
      labelNames: ["model", "class", "reason"],
      registers,
    });
    this.queueWait = new Histogram({ name: "turbine_admission_queue_wait_seconds", help: "Time admitted requests waited in the admission queue", labelNames: ["tenant", "class"], buckets: WAIT_BUCKETS_S, registers });
    this.queueLength = new Gauge({ name: "turbine_admission_queue_length", help: "Requests waiting in the admission queue, by model and class", labelNames: ["model", "class"], registers });
    const probe = (): number => this.sharedProbe();
    this.sharedStore = new Gauge({
      name: "turbine_admission_shared_limits",
      help: "1 while rate limits are shared with the other frontend replicas, 0 while this replica limits alone",
      registers,
      collect() {
        this.set(probe());
      },
    });
  }
}
