// `--api-keys-file`: the tenants file, read at start-up and again whenever it changes. A
// version that does not parse is refused at start-up; on a reload it is logged and the
// previous version stays in force (a typo must not open or shut the door to everyone).
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { TenantDirectory } from "../admission/index.ts";

export interface ApiKeysFileOptions {
  /** How often the file's modification time is checked (ms, default 1000). */
  pollMs?: number;
  /** A reload failed (the previous tenants stay). */
  onError?: (err: Error) => void;
  /** A new version is in force. */
  onReload?: (dir: TenantDirectory) => void;
}

export class ApiKeysFile {
  private current: TenantDirectory;
  private readonly listener: () => void;
  /** Versions loaded after the first (tests and logs). */
  numReloads = 0;

  constructor(
    readonly path: string,
    private readonly options: ApiKeysFileOptions = {},
  ) {
    this.current = TenantDirectory.parse(readFileSync(path, "utf8"));
    // Polling the file's stat survives editors and config managers that replace it by rename.
    this.listener = () => this.reload();
    watchFile(path, { interval: options.pollMs ?? 1000, persistent: false }, this.listener);
  }

  get tenants(): TenantDirectory {
    return this.current;
  }

  /** Reads the file again now; false (and the old version kept) when it does not parse. */
  reload(): boolean {
    try {
      this.current = TenantDirectory.parse(readFileSync(this.path, "utf8"));
      this.numReloads++;
      this.options.onReload?.(this.current);
      return true;
    } catch (e) {
      this.options.onError?.(e as Error);
      return false;
    }
  }

  close(): void {
    unwatchFile(this.path, this.listener);
  }
}
