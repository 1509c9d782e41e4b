// Which host a process runs on, for the locality choice: machine-id and boot id where Linux
// has them (a reboot or another machine changes it), the hostname otherwise. Containers can
// share a machine-id without sharing /dev/shm, which is why connect() also checks that the
// peer's shm directory is really there before choosing shared memory.
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
  const machine = readTrimmed("/etc/machine-id");
  const boot = readTrimmed("/proc/sys/kernel/random/boot_id");
  cached = machine && boot ? `${machine}:${boot}` : hostname();
  return cached;
}
