// Expected refusals (4xx, 503 shed, 499 cancelled) are counted in turbine_requests_total, not
// logged one by one: under overload that is megabytes of logs a minute. This keeps one
// summary line per interval instead: counts by code since the previous line.
import type { FastifyBaseLogger } from "fastify";

export class RefusalLog {
  private counts = new Map<string, number>();
  private lastLineAt = -Infinity;

  constructor(
    private readonly log: () => FastifyBaseLogger,
    /** At most one line per this many ms (default 10 s). */
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one refusal; writes the summary line when the interval has passed. */
  record(code: string): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    const t = this.now();
    if (t - this.lastLineAt >= this.intervalMs) {
      this.lastLineAt = t;
      this.flush();
    }
  }

  /** Writes what was counted since the last line, if anything. */
  flush(): void {
    if (this.counts.size === 0) return;
    const refused = Object.fromEntries(this.counts);
    this.counts = new Map();
    this.log().warn({ refused, intervalMs: this.intervalMs }, "requests refused (counts by code since the previous line)");
  }
}
