// A connected peer: its metadata, the path chosen by locality, and the TCP channel (made
// lazily: a shm-only reader never needs it; writes over shm use it for the commit).
import type { ClusterAuth } from "../runtime/index.ts";
import type { AgentMetadata } from "./descriptor.ts";
import type { TransferPath } from "./transfer.ts";
import { TransferClient } from "./transfer-client.ts";

export class PeerConnection {
  private client: Promise<TransferClient> | null = null;
  private closed = false;

  constructor(
    readonly metadata: AgentMetadata,
    /** "shm" when the peer shares this host and its shm directory; "tcp" otherwise. */
    readonly path: Exclude<TransferPath, "local">,
    private readonly auth: ClusterAuth | null = null,
  ) {}

  get agentId(): string {
    return this.metadata.agentId;
  }

  /** The TCP channel, connecting (again, after a loss) on demand. */
  channel(): Promise<TransferClient> {
    if (!this.client) {
      const { host, port } = this.metadata.tcp;
      const p = TransferClient.connect(host, port, this.metadata.agentId, () => {
        if (this.client === p) this.client = null;
      }, this.auth);
      this.client = p;
      p.catch(() => {
        if (this.client === p) this.client = null;
      });
    }
    return this.client;
  }

  close(): void {
    this.closed = true;
    void this.client?.then((c) => c.close()).catch(() => undefined);
    this.client = null;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
