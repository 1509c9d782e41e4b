// The runtime: the three planes behind one object, and the namespace/component/endpoint
// handles callers use. Callers never see which implementation of a plane they talk to.
import { randomBytes } from "node:crypto";
import type { EndpointAddress } from "./address.ts";
import { formatAddress, instancePrefix, validateName } from "./address.ts";
import type { Discovery, InstanceInfo, Registration } from "./discovery.ts";
import { MemoryDiscovery } from "./discovery.ts";
import { EndpointClient } from "./endpoint-client.ts";
import type { EventPlane } from "./event-plane.ts";
import { MemoryEventPlane } from "./event-plane.ts";
import type { RequestPlane, ServedHandler, StreamHandler } from "./request-plane.ts";
import { LocalRequestPlane } from "./request-plane.ts";
import { EtcdDiscovery } from "./etcd-discovery.ts";
import type { ClusterAuth } from "./cluster-auth.ts";
import type { EtcdDiscoveryOptions } from "./etcd-discovery.ts";
import { connectNats } from "./nats-connection.ts";
import type { NatsConnectOptions } from "./nats-connection.ts";
import { NatsEventPlane } from "./nats-event-plane.ts";
import { NatsRequestPlane } from "./nats-request-plane.ts";
import { TcpRequestPlane } from "./tcp-request-plane.ts";

export interface RuntimePlanes {
  discovery: Discovery;
  requests: RequestPlane;
  events: EventPlane;
}

export interface DistributedRuntimeOptions {
  /** etcd client URL(s), e.g. "http://10.0.0.1:2379". */
  etcdUrl: string | string[];
  /** NATS URL(s), e.g. "nats://10.0.0.1:4222". */
  natsUrl: string | string[];
  /** Request plane: direct TCP (default, measured faster) or NATS. */
  requestPlane?: "tcp" | "nats";
  /** Address the TCP request plane listens on and advertises (default 127.0.0.1). */
  host?: string;
  /** Port of the TCP request plane (default 0: a free one). */
  port?: number;
  /** Discovery lease TTL in seconds (default 10). */
  leaseTtlSeconds?: number;
  /** Name of this process on the NATS server. */
  name?: string;
  /** Cluster-secret handshake on the TCP request plane (and, through `clusterAuth`, the KV transfer agents). */
  clusterAuth?: ClusterAuth | null;
  /** NATS credentials and TLS (user:pass in the URL also works). */
  nats?: NatsConnectOptions;
  /** etcd credentials and TLS. */
  etcd?: Omit<EtcdDiscoveryOptions, "url" | "ttlSeconds">;
  /**
   * TCP request plane: a connection silent this long (no frame, no answer to a ping) is lost,
   * and its worker is suspended as frozen (ms, default 2000; pings after a quarter of it).
   */
  requestPlaneTimeoutMs?: number;
}

export const newInstanceId = (): string => randomBytes(8).toString("hex");

export class Runtime {
  readonly discovery: Discovery;
  readonly requests: RequestPlane;
  readonly events: EventPlane;
  private closing = false;

  /** `closers` run after the planes close (shared connections). */
  constructor(
    planes: RuntimePlanes,
    private readonly closers: (() => Promise<void>)[] = [],
    /** The cluster secret's handshake, for the other internal servers of this process (KV transfer). */
    readonly clusterAuth: ClusterAuth | null = null,
  ) {
    this.discovery = planes.discovery;
    this.requests = planes.requests;
    this.events = planes.events;
  }

  /** Everything in one process: in-memory discovery, direct calls, an in-process emitter. */
  static embedded(): Runtime {
    return new Runtime({
      discovery: new MemoryDiscovery(),
      requests: new LocalRequestPlane(),
      events: new MemoryEventPlane(),
    });
  }

  /**
   * Separate processes: discovery on etcd, events on NATS, requests over TCP or NATS.
   * Rejects if NATS cannot be reached; etcd is reached lazily (first registration or watch).
   */
  static async distributed(options: DistributedRuntimeOptions): Promise<Runtime> {
    const nc = await connectNats(options.natsUrl, { ...options.nats, ...(options.name === undefined ? {} : { name: options.name }) });
    const discovery = new EtcdDiscovery({ ...options.etcd, url: options.etcdUrl, ttlSeconds: options.leaseTtlSeconds ?? 10 });
    const auth = options.clusterAuth ?? null;
    const requests =
      options.requestPlane === "nats"
        ? new NatsRequestPlane(nc)
        : new TcpRequestPlane({
            host: options.host ?? "127.0.0.1",
            port: options.port ?? 0,
            auth,
            ...(options.requestPlaneTimeoutMs !== undefined ? { heartbeatTimeoutMs: options.requestPlaneTimeoutMs, heartbeatIntervalMs: options.requestPlaneTimeoutMs / 4 } : {}),
          });
    const events = new NatsEventPlane(nc);
    return new Runtime({ discovery, requests, events }, [() => nc.close()], auth);
  }

  namespace(name: string): Namespace {
    return new Namespace(this, validateName("namespace", name));
  }

  endpoint(address: EndpointAddress): Endpoint {
    return this.namespace(address.namespace).component(address.component).endpoint(address.endpoint);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.requests.close();
    await this.events.close();
    await this.discovery.close();
    for (const close of this.closers) await close();
  }
}

export class Namespace {
  constructor(
    readonly runtime: Runtime,
    readonly name: string,
  ) {}

  component(name: string): Component {
    return new Component(this, validateName("component", name));
  }
}

export class Component {
  constructor(
    readonly namespace: Namespace,
    readonly name: string,
  ) {}

  endpoint(name: string): Endpoint {
    return new Endpoint(this.namespace.runtime, {
      namespace: this.namespace.name,
      component: this.name,
      endpoint: validateName("endpoint", name),
    });
  }
}

export interface ServeOptions {
  /** Defaults to a fresh id; endpoints of one worker share its id. */
  instanceId?: string;
  metadata?: Record<string, unknown>;
}

/** One served endpoint instance: registered in discovery until stopped. */
export class ServedEndpoint {
  constructor(
    readonly instance: InstanceInfo,
    private readonly handler: ServedHandler,
    private readonly registration: Registration,
  ) {}

  get instanceId(): string {
    return this.instance.instanceId;
  }

  get numInFlight(): number {
    return this.handler.numInFlight;
  }

  /** Deregisters first (no new requests are routed here), then stops, draining if asked. */
  async stop(options: { drain?: boolean } = {}): Promise<void> {
    await this.registration.unregister();
    await this.handler.stop(options);
  }
}

export class Endpoint {
  constructor(
    readonly runtime: Runtime,
    readonly address: EndpointAddress,
  ) {}

  get uri(): string {
    return formatAddress(this.address);
  }

  async serve<Req, Res>(handler: StreamHandler<Req, Res>, options: ServeOptions = {}): Promise<ServedEndpoint> {
    const instanceId = options.instanceId ?? newInstanceId();
    const served = await this.runtime.requests.serve(instanceId, this.address, handler as StreamHandler);
    const instance: InstanceInfo = {
      instanceId,
      address: this.address,
      transport: served.transport,
      metadata: options.metadata ?? {},
    };
    const registration = await this.runtime.discovery.register(instance);
    return new ServedEndpoint(instance, served, registration);
  }

  /** A client that follows this endpoint's instances. */
  async client<Req, Res>(): Promise<EndpointClient<Req, Res>> {
    const prefix = instancePrefix(this.address);
    const watch = this.runtime.discovery.watch(prefix);
    const initial = await this.runtime.discovery.list(prefix);
    return new EndpointClient<Req, Res>(this.address, watch, this.runtime.requests, initial);
  }
}
