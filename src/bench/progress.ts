// Progress of a run on stderr: a bar redrawn in place when stderr is a terminal, else one plain
// line every few seconds (CI logs, redirected output). Rendering is throttled and driven by a
// timer, never by each completion, so it costs nothing measurable at thousands of requests/s.

export interface ProgressOptions {
  total: number;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Redraw period on a terminal, ms (default 200). */
  ttyIntervalMs?: number;
  /** Period of the plain lines, ms (default 5000). */
  lineIntervalMs?: number;
  /** Window of the "current" request rate, ms (default 5000). */
  rateWindowMs?: number;
}

export class ProgressReporter {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly startMs = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly rateWindowMs: number;
  // Completion times in a ring, for the rate over the last window.
  private readonly recent: Float64Array;
  private recentHead = 0;
  private recentCount = 0;
  private done = 0;
  private failed = 0;
  private inFlight = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.rateWindowMs = options.rateWindowMs ?? 5000;
    this.recent = new Float64Array(4096);
    const period = this.tty ? (options.ttyIntervalMs ?? 200) : (options.lineIntervalMs ?? 5000);
    this.timer = setInterval(() => this.render(), period);
    this.timer.unref();
  }

  /** Records one completion. */
  update(done: number, failed: number, inFlight: number): void {
    this.done = done;
    this.failed = failed;
    this.inFlight = inFlight;
    this.recent[this.recentHead] = performance.now();
    this.recentHead = (this.recentHead + 1) % this.recent.length;
    if (this.recentCount < this.recent.length) this.recentCount++;
  }

  /** Requests per second over the last window (or since the start, if shorter). */
  currentRate(): number {
    const now = performance.now();
    const since = Math.max(this.startMs, now - this.rateWindowMs);
    let k = 0;
    let oldest = now;
    for (let j = 1; j <= this.recentCount; j++) {
      const t = this.recent[(this.recentHead - j + this.recent.length) % this.recent.length]!;
      if (t < since) break;
      k++;
      oldest = t;
    }
    // A full ring spans less than the window: measure over what it holds.
    const span = k === this.recent.length ? now - oldest : now - since;
    return span > 0 ? (k * 1000) / span : 0;
  }

  /** One status line, without a newline. */
  line(): string {
    const { total } = this.options;
    const elapsed = (performance.now() - this.startMs) / 1000;
    const width = 30;
    const filled = total > 0 ? Math.min(width, Math.round((this.done / total) * width)) : 0;
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
    const failed = this.failed > 0 ? `  ${this.failed} failed` : "";
    return `${bar} ${this.done}/${total}  ${elapsed.toFixed(1)} s  ${this.currentRate().toFixed(1)} req/s  ${this.inFlight} in flight${failed}`;
  }

  private render(): void {
    if (this.tty) this.stream.write(`\r${this.line()}\x1b[K`);
    else this.stream.write(`${this.line()}\n`);
  }

  /** Stops the timer and writes the final state. */
  finish(): void {
    clearInterval(this.timer);
    this.stream.write(this.tty ? `\r${this.line()}\x1b[K\n` : `${this.line()}\n`);
  }
}
