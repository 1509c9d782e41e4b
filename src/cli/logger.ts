// Structured JSON logs (pino) for every process role.
import { pino } from "pino";
import type { Logger } from "pino";

export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}
