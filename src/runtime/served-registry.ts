// The serving side's table of handlers, shared by the remote request planes: one entry per
// served endpoint instance, with its requests in flight and its drain.
import { TurbineError } from "../protocols/index.ts";
import type { EndpointAddress } from "./address.ts";
import type { TransportInfo } from "./discovery.ts";
import type { ServedHandler, StreamHandler } from "./request-plane.ts";

export interface ServedEntry {
  readonly key: string;
  readonly instanceId: string;
  readonly handler: StreamHandler;
  stopping: boolean;
  inFlight: number;
  onIdle: (() => void) | null;
}

/** The key a call names its target by: endpoint address and instance id. */
export function servedKey(a: EndpointAddress, instanceId: string): string {
  return `${a.namespace}.${a.component}.${a.endpoint}/${instanceId}`;
}

export class ServedRegistry {
  private readonly entries = new Map<string, ServedEntry>();

  get size(): number {
    return this.entries.size;
  }

  add(
    instanceId: string,
    address: EndpointAddress,
    handler: StreamHandler,
    transport: TransportInfo,
    onRemoved?: () => void,
  ): { entry: ServedEntry; served: ServedHandler } {
    const key = servedKey(address, instanceId);
    const entry: ServedEntry = { key, instanceId, handler, stopping: false, inFlight: 0, onIdle: null };
    this.entries.set(key, entry);
    const served: ServedHandler = {
      transport,
      get numInFlight() {
        return entry.inFlight;
      },
      stop: async (options = {}) => {
        entry.stopping = true;
        if (options.drain && entry.inFlight > 0) await new Promise<void>((r) => (entry.onIdle = r));
        if (this.entries.get(key) === entry) {
          this.entries.delete(key);
          onRemoved?.();
        }
      },
    };
    return { entry, served };
  }

  /** The entry that takes a new call, or the error the caller gets. */
  begin(key: string): ServedEntry | TurbineError {
    const entry = this.entries.get(key);
    if (!entry || entry.stopping) return new TurbineError("RUNTIME_NO_INSTANCE", `instance ${key} is gone`);
    entry.inFlight++;
    return entry;
  }

  finish(entry: ServedEntry): void {
    if (--entry.inFlight === 0) entry.onIdle?.();
  }

  clear(): void {
    this.entries.clear();
  }
}
