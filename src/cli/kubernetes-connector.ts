// The `kubernetes` connector: each pool is a worker Deployment, scaled through its `scale`
// subresource (read, then replace with the new replica count; a conflict is retried). Scale-
// down drains because Kubernetes sends the removed pods SIGTERM, which drains a `turbine
// worker`; the pods' terminationGracePeriodSeconds must cover the worker's --drain-timeout-ms.
// Kubernetes picks which pod goes (the newest ready one, by default).
import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import type { V1Scale } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Connector, PoolDecision, PoolName, ScalingRecord } from "../planner/index.ts";

export interface KubernetesConnectorOptions {
  /** The Deployment of each pool's workers. */
  deployments: Partial<Record<PoolName, string>>;
  namespace: string;
  log: Logger;
  /** Default: the usual kubeconfig ($KUBECONFIG, ~/.kube/config, or the in-cluster service account). */
  kubeConfig?: KubeConfig;
}

export class KubernetesConnector implements Connector {
  readonly name = "kubernetes";
  readonly records: ScalingRecord[] = [];
  private readonly api: AppsV1Api;
  private readonly replicas = new Map<PoolName, number>();

  private constructor(private readonly options: KubernetesConnectorOptions) {
    let kc = options.kubeConfig;
    if (kc === undefined) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    this.api = kc.makeApiClient(AppsV1Api);
  }

  /** Reads each Deployment's replica count. */
  static async connect(options: KubernetesConnectorOptions): Promise<KubernetesConnector> {
    const c = new KubernetesConnector(options);
    await c.refresh();
    return c;
  }

  /** Rereads the replica counts (someone may have scaled by hand). */
  async refresh(): Promise<void> {
    for (const [pool, name] of Object.entries(this.options.deployments) as [PoolName, string][]) {
      const scale = await this.api.readNamespacedDeploymentScale({ name, namespace: this.options.namespace });
      this.replicas.set(pool, scale.spec?.replicas ?? 0);
    }
  }

  numWorkers(pool: PoolName): number {
    return this.replicas.get(pool) ?? 0;
  }

  async scale(pool: PoolName, desired: number, decision: PoolDecision): Promise<void> {
    const name = this.options.deployments[pool];
    if (name === undefined) return;
    const namespace = this.options.namespace;
    for (let attempt = 0; ; attempt++) {
      const current: V1Scale = await this.api.readNamespacedDeploymentScale({ name, namespace });
      const from = current.spec?.replicas ?? 0;
      if (from === desired) {
        this.replicas.set(pool, desired);
        return;
      }
      try {
        const body: V1Scale = { apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name, namespace, resourceVersion: current.metadata?.resourceVersion }, spec: { replicas: desired } };
        const done = await this.api.replaceNamespacedDeploymentScale({ name, namespace, body });
        this.replicas.set(pool, done.spec?.replicas ?? desired);
        this.records.push({ at: Date.now(), pool, from, to: desired, reason: decision.reason });
        this.options.log.info({ pool, deployment: name, from, to: desired }, "scaled deployment");
        return;
      } catch (err) {
        // 409: the Deployment changed since we read it; read again.
        if ((err as { code?: number }).code !== 409 || attempt >= 3) throw err;
      }
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
