// Builds a frontend's admission from its options: the keys file (watched), where the rate
// limit buckets live (shared over the event plane when asked, this process otherwise), the
// queue, and the metrics. Frontend.start calls it; its `close` stops what it started.
import { MemoryBucketStore } from "../admission/index.ts";
import type { BucketStore } from "../admission/index.ts";
import { TurbineError } from "../protocols/index.ts";
import type { Runtime } from "../runtime/index.ts";
import { AdmissionController } from "./admission-controller.ts";
import type { AdmissionQueueConfig } from "./admission-controller.ts";
import { HttpAdmission } from "./admission-http.ts";
import { AdmissionMetrics } from "./admission-metrics.ts";
import { ApiKeysFile } from "./api-keys-file.ts";
import type { FrontendMetrics } from "./metrics.ts";
import { SharedBucketStore } from "./shared-bucket-store.ts";

export interface AdmissionOptions {
  /** Tenants and their hashed keys (`--api-keys-file`); reloaded when it changes. */
  apiKeysFile?: string;
  /** The admission queue (default: 256 per model, 30 s). */
  queue?: AdmissionQueueConfig;
  /** Share rate-limit buckets with the other frontends over the event plane (`turbine frontend`: on). */
  sharedLimits?: boolean;
  /** Heartbeat of the shared buckets (ms, default 500). */
  sharedLimitsHeartbeatMs?: number;
}

export interface AdmissionSetup {
  http: HttpAdmission;
  controller: AdmissionController;
  close: () => void;
}

export function createAdmission(
  options: AdmissionOptions,
  ctx: { runtime: Runtime; namespace: string; metrics: FrontendMetrics; apiKeys?: string[]; onError: (err: Error) => void },
): AdmissionSetup {
  if (options.apiKeysFile !== undefined && (ctx.apiKeys ?? []).some((k) => k.length > 0)) {
    throw new TurbineError("REQUEST_INVALID", "give either --api-keys-file or --api-key (TURBINE_API_KEY), not both");
  }
  const metrics = new AdmissionMetrics(ctx.metrics.registry);
  const file = options.apiKeysFile === undefined ? null : new ApiKeysFile(options.apiKeysFile, { onError: ctx.onError });
  const shared = options.sharedLimits ? new SharedBucketStore(ctx.runtime.events, { subject: `${ctx.namespace}.admission.buckets`, heartbeatMs: options.sharedLimitsHeartbeatMs }) : null;
  const store: BucketStore = shared ?? new MemoryBucketStore();
  const controller = new AdmissionController({ tenants: file ? () => file.tenants : null, store, queue: options.queue, metrics });
  // The gauge says whether limits are shared now; read at scrape time.
  if (shared) metrics.sharedProbe = () => (shared.mode === "shared" ? 1 : 0);
  return {
    http: new HttpAdmission(controller, metrics),
    controller,
    close: () => {
      controller.close();
      shared?.close();
      file?.close();
    },
  };
}
