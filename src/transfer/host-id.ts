// Which host a process runs on, for the locality choice: machine-id and boot id where Linux
// has them (a reboot or another machine changes it), the hostname otherwise. Containers can
// share a machine-id without sharing /dev/shm, which is why connect() also checks that the
// peer's shm directory is really there before choosing shared memory. TURBINE_HOST_ID overrides
// it: processes that share a machine but should not share memory (network namespaces standing
// for hosts in tests, sandboxes) say so.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

function readTrimmed(path: string): string | null {
  try {
    const s = readFileSync(path, "utf8").trim();
    return s.length > 0 ? s : null;
  } catch {
    return null;
  }
}

let cached: string | null = null;

export function defaultHostId(): string {
  if (cached !== null) return cached;
  const forced = process.env["TURBINE_HOST_ID"];
  if (forced !== undefined && forced.length > 0) return (cached = forced);
  const machine = readTrimmed("/etc/machine-id");
  const boot = readTrimmed("/proc/sys/kernel/random/boot_id");
  cached = machine && boot ? `${machine}:${boot}` : hostname();
  return cached;
}
