// The caller's side of an endpoint: which instances serve it now (kept current by a
// discovery watch) and a typed call to one of them.
import { TurbineError } from "../protocols/index.ts";
import type { Subscription } from "./async-queue.ts";
import type { EndpointAddress } from "./address.ts";
import type { DiscoveryEvent, InstanceInfo } from "./discovery.ts";
import type { CallOptions, RequestPlane } from "./request-plane.ts";

export type InstanceChange = { type: "added" | "removed"; instance: InstanceInfo };

export class EndpointClient<Req = unknown, Res = unknown> {
  private readonly byId = new Map<string, InstanceInfo>();
  private readonly listeners = new Set<(change: InstanceChange) => void>();
  private readonly ready: Promise<void>;

  constructor(
    readonly address: EndpointAddress,
    private readonly watch: Subscription<DiscoveryEvent>,
    private readonly requests: RequestPlane,
    initial: InstanceInfo[],
  ) {
    for (const i of initial) this.byId.set(i.instanceId, i);
    this.ready = this.follow();
  }

  instances(): InstanceInfo[] {
    return [...this.byId.values()];
  }

  instance(instanceId: string): InstanceInfo | undefined {
    return this.byId.get(instanceId);
  }

  /** Listens to instances coming and going. Returns the function that stops listening. */
  onChange(listener: (change: InstanceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once at least `n` instances are known. */
  async waitForInstances(n = 1, options: { signal?: AbortSignal } = {}): Promise<InstanceInfo[]> {
    if (this.byId.size >= n) return this.instances();
    return new Promise((resolve, reject) => {
      const stop = this.onChange(() => {
        if (this.byId.size >= n) {
          stop();
          resolve(this.instances());
        }
      });
      options.signal?.addEventListener(
        "abort",
        () => {
          stop();
          reject(new TurbineError("RUNTIME_NO_INSTANCE", `fewer than ${n} instances of the endpoint appeared`));
        },
        { once: true },
      );
    });
  }

  /** Streams the response of one instance to one request. */
  call(instanceId: string, request: Req, options: CallOptions = {}): AsyncIterable<Res> {
    const target = this.byId.get(instanceId);
    if (!target) {
      const err = new TurbineError("RUNTIME_NO_INSTANCE", `instance ${instanceId} is not serving`);
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    }
    return this.requests.call(target, request, options) as AsyncIterable<Res>;
  }

  /** Calls an instance and collects the whole response. */
  async collect(instanceId: string, request: Req, options: CallOptions = {}): Promise<Res[]> {
    const out: Res[] = [];
    for await (const item of this.call(instanceId, request, options)) out.push(item);
    return out;
  }

  close(): void {
    this.watch.unsubscribe();
  }

  get closed(): Promise<void> {
    return this.ready;
  }

  private async follow(): Promise<void> {
    for await (const event of this.watch) {
      const id = event.instance.instanceId;
      if (event.type === "put") {
        const had = this.byId.has(id);
        this.byId.set(id, event.instance);
        if (!had) this.notify({ type: "added", instance: event.instance });
      } else if (this.byId.delete(id)) {
        this.notify({ type: "removed", instance: event.instance });
      }
    }
  }

  private notify(change: InstanceChange): void {
    for (const l of this.listeners) l(change);
  }
}
