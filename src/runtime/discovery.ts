// Discovery: which instances exist and what they serve. Embedded form: an in-memory registry.
// The etcd form (a later issue) keeps the same interface: instances hold a lease and vanish
// when their process dies.
import { AsyncQueue } from "./async-queue.ts";
import type { Subscription } from "./async-queue.ts";
import type { EndpointAddress } from "./address.ts";
import { instanceKey } from "./address.ts";

/** How the request plane reaches an instance. */
export type TransportInfo =
  | { kind: "local" }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "nats"; subject: string };

export interface InstanceInfo {
  /** Unique across the fleet; a worker's WorkerId is its generate endpoint's instance id. */
  instanceId: string;
  address: EndpointAddress;
  transport: TransportInfo;
  /** What the instance says about itself (a worker: its model card). */
  metadata: Record<string, unknown>;
}

export type DiscoveryEvent =
  | { type: "put"; key: string; instance: InstanceInfo }
  | { type: "delete"; key: string; instance: InstanceInfo };

export interface Registration {
  readonly key: string;
  /** Removes the instance from discovery. */
  unregister(): Promise<void>;
}

export interface Discovery {
  register(instance: InstanceInfo): Promise<Registration>;
  /** Instances whose key starts with the prefix (see instancePrefix). */
  list(prefix: string): Promise<InstanceInfo[]>;
  /** Every current instance under the prefix as "put", then changes as they happen. */
  watch(prefix: string): Subscription<DiscoveryEvent>;
  close(): Promise<void>;
}

export class MemoryDiscovery implements Discovery {
  private readonly entries = new Map<string, InstanceInfo>();
  private readonly watchers = new Set<{ prefix: string; queue: AsyncQueue<DiscoveryEvent> }>();

  async register(instance: InstanceInfo): Promise<Registration> {
    const key = instanceKey(instance.address, instance.instanceId);
    this.entries.set(key, instance);
    this.emit({ type: "put", key, instance });
    return {
      key,
      unregister: async () => {
        const current = this.entries.get(key);
        if (current !== instance) return;
        this.entries.delete(key);
        this.emit({ type: "delete", key, instance });
      },
    };
  }

  async list(prefix: string): Promise<InstanceInfo[]> {
    const out: InstanceInfo[] = [];
    for (const [key, info] of this.entries) if (key.startsWith(prefix)) out.push(info);
    return out;
  }

  watch(prefix: string): Subscription<DiscoveryEvent> {
    const watcher = {
      prefix,
      queue: new AsyncQueue<DiscoveryEvent>({ onReturn: () => this.watchers.delete(watcher) }),
    };
    for (const [key, instance] of this.entries) {
      if (key.startsWith(prefix)) watcher.queue.push({ type: "put", key, instance });
    }
    this.watchers.add(watcher);
    return watcher.queue;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.queue.end();
    this.watchers.clear();
  }

  private emit(event: DiscoveryEvent): void {
    for (const w of this.watchers) if (event.key.startsWith(w.prefix)) w.queue.push(event);
  }
}
