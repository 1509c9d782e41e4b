// Holds back generated text that might be the start of a stop string, so that no part of a stop
// string ever reaches the client.

/** What `StopJail.push` lets out. */
export interface StopJailResult {
  /** Text safe to send now (on a stop: the text before the stop string). */
  text: string;
  stopped: boolean;
  /** The stop string that matched, when stopped. */
  stopString?: string;
}

/**
 * Stop-string jail. The output is exactly the generated text up to (not including) the
 * earliest occurrence of any stop string, however the text is split into pieces:
 *
 * - the pending text's longest suffix that is a proper prefix of some stop string is held back;
 * - a complete match stops the stream, unless a stop string that would start earlier is still
 *   incomplete: then the jail waits for it to complete or fail, so the cut is always at the
 *   earliest occurrence (with stops "b" and "abc", "abc" cuts before "a", not before "b").
 *
 * Cost per piece: O((held + piece) · number of stop strings) with native `indexOf`/`startsWith`;
 * the held text is shorter than the longest stop string.
 */
export class StopJail {
  private readonly stops: readonly string[];
  private readonly maxStopLength: number;
  private pending = "";
  private done = false;
  private matched: string | undefined;

  /** Empty stop strings are ignored (they would match before any text). */
  constructor(stopStrings: readonly string[]) {
    this.stops = stopStrings.filter((s) => s.length > 0);
    let max = 0;
    for (const s of this.stops) max = Math.max(max, s.length);
    this.maxStopLength = max;
  }

  /** Whether a stop string was hit (by `push` or `flush`); later pushes return nothing. */
  get stopped(): boolean {
    return this.done;
  }

  /** The stop string that was hit, if any. */
  get stopString(): string | undefined {
    return this.done ? this.matched : undefined;
  }

  push(piece: string): StopJailResult {
    if (this.done) return { text: "", stopped: true };
    if (this.stops.length === 0) return { text: piece, stopped: false };
    const pending = this.pending + piece;
    const matchAt = this.earliestMatch(pending);
    // Earliest start of a stop string that has begun but not completed, before the match.
    const heldAt = this.earliestPartialStart(pending, matchAt === -1 ? pending.length : matchAt);
    if (heldAt !== -1) {
      this.pending = pending.slice(heldAt);
      return { text: pending.slice(0, heldAt), stopped: false };
    }
    this.pending = "";
    if (matchAt !== -1) return this.stop(pending, matchAt);
    return { text: pending, stopped: false };
  }

  /**
   * At the end of the stream: the held-back text. Incomplete stop strings can no longer
   * complete, so a complete one they were holding up now applies: then only the text before it
   * is returned and `stopped` turns true (the finish reason is "stop").
   */
  flush(): string {
    if (this.done) return "";
    const pending = this.pending;
    this.pending = "";
    const matchAt = this.earliestMatch(pending);
    return matchAt === -1 ? pending : this.stop(pending, matchAt).text;
  }

  private stop(pending: string, at: number): StopJailResult {
    this.done = true;
    return { text: pending.slice(0, at), stopped: true, stopString: this.matched! };
  }

  /** Index of the earliest complete stop string (the first listed on a tie), or -1. */
  private earliestMatch(pending: string): number {
    let matchAt = -1;
    for (const s of this.stops) {
      const at = pending.indexOf(s);
      if (at !== -1 && (matchAt === -1 || at < matchAt)) {
        matchAt = at;
        this.matched = s;
      }
    }
    return matchAt;
  }

  /**
   * The smallest index p < limit such that pending[p:] is a proper prefix of some stop string,
   * or -1. Only the last maxStopLength - 1 positions can qualify.
   */
  private earliestPartialStart(pending: string, limit: number): number {
    const from = Math.max(0, pending.length - this.maxStopLength + 1);
    for (let p = from; p < limit; p++) {
      const tail = pending.slice(p);
      for (const s of this.stops) {
        if (tail.length < s.length && s.startsWith(tail)) return p;
      }
    }
    return -1;
  }
}
