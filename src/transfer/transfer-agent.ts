// A transfer agent, one per worker process: registers memory regions, advertises metadata,
// connects to peers (shm on the same host, TCP otherwise) and moves bytes between regions by
// descriptor. Owns its regions, its shm directory, its TCP server and its peer connections.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterAuth } from "../runtime/index.ts";
import { checkDescriptor, checkName, parseAgentMetadata } from "./descriptor.ts";
import type { AgentMetadata, TransferDescriptor } from "./descriptor.ts";
import { defaultHostId } from "./host-id.ts";
import { HeapRegion, ShmRegion } from "./memory-region.ts";
import type { MemoryRegion } from "./memory-region.ts";
import { PeerConnection } from "./peer-connection.ts";
import { readShm, regionFilePath, stageShmWrite } from "./shm-path.ts";
import { StagingPool } from "./staging-pool.ts";
import { Transfer } from "./transfer.ts";
import type { TransferDirection, TransferOptions, TransferPath } from "./transfer.ts";
import { TransferError, toTransferError } from "./transfer-error.ts";
import { TransferServer } from "./transfer-server.ts";

export interface TransferAgentOptions {
  /** Unique name (default: pid and random bytes). Names the shm directory. */
  agentId?: string;
  /** Overrides the host identity (tests force TCP on one machine with distinct ids). */
  hostId?: string;
  /** Address to listen on and advertise (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: a free one). */
  port?: number;
  /**
   * Back regions with files under this root (default /dev/shm where it exists) so that
   * same-host peers read them directly; false: heap regions, reachable over TCP only.
   */
  shm?: boolean | { root: string };
  /** Staging buffers kept for reuse, in bytes (default 512 MiB). */
  maxRetainedStagingBytes?: number;
  /** Cluster-secret handshake on every TCP connection, both ways (absent: none). */
  auth?: ClusterAuth | null;
}

export interface RegisterOptions {
  /** Default: r1, r2, ... */
  regionId?: string;
  /** Bytes; default data.length. */
  length?: number;
  /** Initial contents. */
  data?: Uint8Array;
}

const DIR_PREFIX = "turbine-transfer-";
const MARKER = "agent.json";

export class TransferAgent {
  private readonly regions = new Map<string, MemoryRegion>();
  private readonly peers = new Map<string, PeerConnection>();
  private readonly active = new Set<Transfer>();
  private readonly pool: StagingPool;
  private server: TransferServer | null = null;
  private port = 0;
  private nextRegion = 1;
  private closed = false;

  private constructor(
    readonly agentId: string,
    readonly hostId: string,
    private readonly host: string,
    /** This agent's region directory, or null without shared memory. */
    readonly shmDir: string | null,
    maxRetained: number,
    private readonly auth: ClusterAuth | null,
  ) {
    this.pool = new StagingPool(maxRetained);
  }

  static async create(options: TransferAgentOptions = {}): Promise<TransferAgent> {
    const agentId = checkName("agentId", options.agentId ?? `a${process.pid}-${randomBytes(4).toString("hex")}`);
    const hostId = options.hostId ?? defaultHostId();
    const root = options.shm === false ? null : typeof options.shm === "object" ? options.shm.root : existsSync("/dev/shm") ? "/dev/shm" : null;
    let dir: string | null = null;
    if (root) {
      sweepStaleDirs(root, hostId);
      dir = join(root, `${DIR_PREFIX}${agentId}`);
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(join(dir, MARKER), JSON.stringify({ agentId, hostId, pid: process.pid }));
    }
    const agent = new TransferAgent(agentId, hostId, options.host ?? "127.0.0.1", dir, options.maxRetainedStagingBytes ?? 512 << 20, options.auth ?? null);
    const server = new TransferServer(agentId, (id) => agent.regions.get(id), agent.pool, dir, options.auth ?? null);
    try {
      agent.port = await server.listen(agent.host, options.port ?? 0);
    } catch (e) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      throw new TransferError("failed", `agent ${agentId} cannot listen: ${(e as Error).message}`, { cause: e });
    }
    agent.server = server;
    return agent;
  }

  /** What to advertise in discovery (InstanceInfo.metadata[TRANSFER_METADATA_KEY]). */
  get metadata(): AgentMetadata {
    return { agentId: this.agentId, hostId: this.hostId, tcp: { host: this.host, port: this.port }, shm: this.shmDir ? { dir: this.shmDir } : null };
  }

  /** Registers a region: shm-backed when the agent shares memory, heap otherwise. */
  register(options: RegisterOptions): MemoryRegion {
    this.checkOpen();
    const regionId = checkName("regionId", options.regionId ?? `r${this.nextRegion++}`);
    const length = options.length ?? options.data?.length;
    if (length === undefined || !Number.isSafeInteger(length) || length < 0) throw new TransferError("invalid", "region needs a length or data");
    if (this.regions.has(regionId)) throw new TransferError("invalid", `region ${regionId} is already registered`);
    const region = this.shmDir
      ? new ShmRegion(this.agentId, regionId, length, regionFilePath(this.shmDir, regionId))
      : new HeapRegion(this.agentId, regionId, length);
    this.regions.set(regionId, region);
    if (options.data) region.write(options.data, 0);
    return region;
  }

  region(regionId: string): MemoryRegion | undefined {
    return this.regions.get(regionId);
  }

  /** Removes a region; transfers using it (either end) fail with reason "deregistered". */
  deregister(region: MemoryRegion | string): boolean {
    const id = typeof region === "string" ? region : region.regionId;
    const r = this.regions.get(id);
    if (!r || (typeof region !== "string" && r !== region)) return false;
    this.regions.delete(id);
    r.release();
    return true;
  }

  /** Connects to a peer (metadata from discovery): shared memory on this host, TCP otherwise. */
  async connect(peerMetadata: unknown): Promise<PeerConnection> {
    this.checkOpen();
    const meta = parseAgentMetadata(peerMetadata);
    const existing = this.peers.get(meta.agentId);
    if (existing && sameMetadata(existing.metadata, meta)) return existing;
    existing?.close();
    const peer = new PeerConnection(meta, shmReachable(this.hostId, meta) ? "shm" : "tcp", this.auth);
    // TCP peers: connect now so an unreachable peer fails here, not at the first transfer.
    if (peer.path === "tcp") await peer.channel();
    this.peers.set(meta.agentId, peer);
    return peer;
  }

  peer(agentId: string): PeerConnection | undefined {
    return this.peers.get(agentId);
  }

  disconnect(agentId: string): void {
    this.peers.get(agentId)?.close();
    this.peers.delete(agentId);
  }

  /** Copies the remote range into the local one; the local range is untouched unless it succeeds. */
  read(remote: TransferDescriptor, local: TransferDescriptor, options: TransferOptions = {}): Transfer {
    return this.start("read", remote, local, options);
  }

  /** Copies the local range into the remote one; the remote range changes whole or not at all. */
  write(local: TransferDescriptor, remote: TransferDescriptor, options: TransferOptions = {}): Transfer {
    return this.start("write", remote, local, options);
  }

  /** Fails transfers in flight, drops peers, deregisters every region, removes the shm dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new TransferError("closed", `agent ${this.agentId} closed`);
    for (const t of [...this.active]) t.fail(error);
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    await this.server?.close();
    for (const r of this.regions.values()) r.release();
    this.regions.clear();
    this.pool.clear();
    if (this.shmDir) rmSync(this.shmDir, { recursive: true, force: true });
  }

  // --- transfers ---

  /**
   * Reads a remote range into a new Buffer, no local region needed (e.g. KV to hand to an
   * engine's import): the bytes land in the buffer returned, with no commit copy.
   */
  async fetch(remote: TransferDescriptor, options: TransferOptions = {}): Promise<Buffer> {
    const length = Number(remote?.length);
    const out = Buffer.allocUnsafeSlow(Number.isSafeInteger(length) && length >= 0 ? length : 0);
    await this.start("read", remote, null, options, out);
    return out;
  }

  private start(
    direction: TransferDirection,
    remoteIn: TransferDescriptor,
    localIn: TransferDescriptor | null,
    options: TransferOptions,
    fetched?: Buffer,
  ): Transfer {
    let path: TransferPath = "tcp";
    let remote: TransferDescriptor, local: TransferDescriptor;
    let mine: MemoryRegion | null = null;
    let peer: PeerConnection | undefined;
    try {
      this.checkOpen();
      remote = checkDescriptor(remoteIn);
      if (localIn === null) local = { agentId: this.agentId, regionId: "fetch", offset: 0, length: fetched!.length };
      else {
        local = checkDescriptor(localIn);
        if (local.agentId !== this.agentId) throw new TransferError("invalid", `local descriptor names agent ${local.agentId}, not ${this.agentId}`);
        mine = this.liveRegion(local);
      }
      if (local.length !== remote.length) throw new TransferError("out-of-range", `lengths differ: local ${local.length}, remote ${remote.length}`);
      if (remote.agentId === this.agentId) path = "local";
      else {
        peer = this.peers.get(remote.agentId);
        if (!peer) throw new TransferError("not-connected", `not connected to agent ${remote.agentId}`);
        path = peer.path;
      }
    } catch (e) {
      const t = new Transfer(direction, path, Number(remoteIn?.length) || 0);
      t.fail(toTransferError(e));
      return t;
    }
    const t = new Transfer(direction, path, local.length, options.onProgress);
    this.active.add(t);
    t.onSettle(() => this.active.delete(t));
    if (mine) {
      const region = mine;
      const user = (e: TransferError): void => t.interrupt(e);
      region.users.add(user);
      t.onSettle(() => region.users.delete(user));
    }
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) {
        t.cancel(signal.reason);
        return t;
      }
      const onAbort = (): void => t.cancel(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      t.onSettle(() => signal.removeEventListener("abort", onAbort));
    }
    if (direction === "write") this.runWrite(t, remote, local, mine!, peer);
    else if (fetched) this.runRead(t, remote, fetched, () => null, peer);
    else this.runRead(t, remote, this.pool.take(local.length), (staging) => mine!.commitStaging(staging, local.offset), peer);
    return t;
  }

  private runRead(t: Transfer, remote: TransferDescriptor, staging: Buffer, commit: (staging: Buffer) => Buffer | null, peer: PeerConnection | undefined): void {
    // What goes back to the pool: the staging, what a swapping commit handed back, or nothing.
    let reusable: Buffer | null = staging;
    const commitOnce = (): void => {
      reusable = commit(staging);
    };
    const giveBack = (): void => {
      if (reusable) this.pool.give(reusable);
    };
    if (!peer) {
      try {
        this.liveRegion(remote).readInto(staging, 0, remote.offset, remote.length);
        t.progress(remote.length);
        commitOnce();
        t.succeed();
      } catch (e) {
        t.fail(toTransferError(e));
      }
      giveBack();
      return;
    }
    if (peer.path === "shm") {
      // The staging buffer goes back only when no fs read is writing into it any more.
      readShm(t, peer.metadata.shm!.dir, remote.regionId, remote.offset, staging)
        .then(() => {
          if (t.settled) return;
          commitOnce();
          t.succeed();
        })
        .catch((e: unknown) => t.fail(toTransferError(e)))
        .finally(giveBack);
      return;
    }
    t.onSettle(giveBack);
    peer.channel().then(
      (c) => {
        if (!t.settled) c.read(t, remote.regionId, remote.offset, staging, commitOnce);
      },
      (e: unknown) => t.fail(toTransferError(e)),
    );
  }

  private runWrite(t: Transfer, remote: TransferDescriptor, local: TransferDescriptor, source: MemoryRegion, peer: PeerConnection | undefined): void {
    if (!peer) {
      try {
        const dest = this.liveRegion(remote);
        const data = source.read(local.offset, local.length);
        t.progress(data.length);
        dest.write(data, remote.offset);
        t.succeed();
      } catch (e) {
        t.fail(toTransferError(e));
      }
      return;
    }
    if (peer.path === "shm") {
      void (async () => {
        const path = await stageShmWrite(t, peer.metadata.shm!.dir, source, local.offset, local.length);
        if (!path) return;
        t.onSettle(() => {
          if (t.status === "failed") void unlink(path).catch(() => undefined);
        });
        const c = await peer.channel();
        if (!t.settled) c.commitStaged(t, remote.regionId, remote.offset, remote.length, path);
      })().catch((e: unknown) => t.fail(toTransferError(e)));
      return;
    }
    peer.channel().then(
      (c) => {
        if (!t.settled) void c.write(t, source, local.offset, remote.regionId, remote.offset, remote.length);
      },
      (e: unknown) => t.fail(toTransferError(e)),
    );
  }

  private liveRegion(d: TransferDescriptor): MemoryRegion {
    const r = this.regions.get(d.regionId);
    if (!r) throw new TransferError("region-not-found", `no region ${d.regionId} on agent ${this.agentId}`);
    r.checkLive();
    r.checkRange(d.offset, d.length);
    return r;
  }

  private checkOpen(): void {
    if (this.closed) throw new TransferError("closed", `agent ${this.agentId} is closed`);
  }
}

function sameMetadata(a: AgentMetadata, b: AgentMetadata): boolean {
  return a.hostId === b.hostId && a.tcp.host === b.tcp.host && a.tcp.port === b.tcp.port && a.shm?.dir === b.shm?.dir;
}

/** Same host id, and the peer's shm directory is visible here with the peer's marker in it. */
export function shmReachable(ownHostId: string, peer: AgentMetadata): boolean {
  if (peer.hostId !== ownHostId || !peer.shm) return false;
  try {
    const marker = JSON.parse(readFileSync(join(peer.shm.dir, MARKER), "utf8")) as { agentId?: unknown };
    return marker.agentId === peer.agentId;
  } catch {
    return false;
  }
}

/** Removes directories of agents on this host whose process is gone (killed agents leak them). */
function sweepStaleDirs(root: string, hostId: string): void {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const marker = JSON.parse(readFileSync(join(root, name, MARKER), "utf8")) as { hostId?: unknown; pid?: unknown };
      if (marker.hostId !== hostId || typeof marker.pid !== "number" || processAlive(marker.pid)) continue;
      rmSync(join(root, name), { recursive: true, force: true });
    } catch {
      // not ours to judge
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
