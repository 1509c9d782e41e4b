// What agents say about themselves and their memory: descriptors name a byte range of a
// region of an agent; metadata is what an agent advertises in discovery (InstanceInfo.metadata).
import { TransferError } from "./transfer-error.ts";

/** A byte range of a registered region of an agent. Plain data: send it anywhere. */
export interface TransferDescriptor {
  agentId: string;
  regionId: string;
  offset: number;
  length: number;
}

/** An agent's advertisement: how peers reach it and whether they share its host. */
export interface AgentMetadata {
  agentId: string;
  /** Peers with the same hostId (and a readable shm dir) use shared memory. */
  hostId: string;
  tcp: { host: string; port: number };
  /** Directory of the agent's region files; null when the agent does not share memory. */
  shm: { dir: string } | null;
}

/** Key under which a worker puts its AgentMetadata in InstanceInfo.metadata. */
export const TRANSFER_METADATA_KEY = "transfer";

// Names become file names under /dev/shm: keep them to a safe alphabet.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TransferError("invalid", `${kind} must match ${NAME.source}, got ${JSON.stringify(name)}`);
  }
  return name;
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

export function checkDescriptor(d: unknown): TransferDescriptor {
  const o = d as Partial<TransferDescriptor> | null;
  if (typeof o !== "object" || o === null) throw new TransferError("invalid", "descriptor must be an object");
  checkName("agentId", o.agentId);
  checkName("regionId", o.regionId);
  if (!isCount(o.offset) || !isCount(o.length)) {
    throw new TransferError("invalid", `descriptor offset/length must be non-negative integers`);
  }
  return o as TransferDescriptor;
}

/** Validates metadata received from discovery (untrusted shape). */
export function parseAgentMetadata(value: unknown): AgentMetadata {
  const o = value as Partial<AgentMetadata> | null;
  if (typeof o !== "object" || o === null) throw new TransferError("invalid", "agent metadata must be an object");
  checkName("agentId", o.agentId);
  if (typeof o.hostId !== "string") throw new TransferError("invalid", "agent metadata needs a hostId");
  const tcp = o.tcp;
  if (typeof tcp !== "object" || tcp === null || typeof tcp.host !== "string" || !isCount(tcp.port)) {
    throw new TransferError("invalid", "agent metadata needs tcp { host, port }");
  }
  const shm = o.shm ?? null;
  if (shm !== null && (typeof shm !== "object" || typeof shm.dir !== "string")) {
    throw new TransferError("invalid", "agent metadata shm must be { dir } or null");
  }
  return { agentId: o.agentId!, hostId: o.hostId, tcp: { host: tcp.host, port: tcp.port }, shm: shm && { dir: shm.dir } };
}
