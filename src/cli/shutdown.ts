// Orderly shutdown of a process role on SIGINT/SIGTERM.
import type { Logger } from "pino";

const finalSteps: (() => Promise<void>)[] = [];

/** Runs `step` after the role's own stop, before the process exits (e.g. flushing traces). */
export function beforeExit(step: () => Promise<void>): void {
  finalSteps.push(step);
}

async function runFinalSteps(): Promise<void> {
  await Promise.all(finalSteps.map((s) => s().catch(() => undefined)));
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits 0 (1 if it failed); a second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down: finishing requests in flight");
    stop().then(
      () => runFinalSteps().then(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        void runFinalSteps().then(() => process.exit(1));
      },
    );
  };
  process.once("SIGINT", () => handler("SIGINT"));
  process.once("SIGTERM", () => handler("SIGTERM"));
}
