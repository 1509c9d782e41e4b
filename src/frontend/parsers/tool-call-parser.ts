// The streaming machinery every marker-based tool-call format shares. Text passes through as
// content, except a tail that could begin a marker (held back, as the stop jail does); after a
// marker, the format's reader waits until the call region is complete and turns it into calls.
// A region the reader rejects goes out as text, marker included: malformed calls are content,
// never an error. Each call is emitted whole, when its region closes, so a call that turns out
// malformed has not been half-sent.
import { newToolCallId, partialMarkerLength } from "./types.ts";
import type { ParsedEvent, RawToolCall, StreamingParser, ToolDefinition } from "./types.ts";

/** What a reader makes of the text after a marker. */
export type RegionResult = { consumed: number; calls: RawToolCall[] } | "incomplete" | "invalid";

/** One tool-call output format (hermes, mistral, ...). */
export interface ToolCallFormat {
  readonly name: string;
  /** Markers that open a call region. */
  readonly markers: readonly string[];
  /**
   * Formats whose calls need no marker when they open the output (llama3_json's `{`, pythonic's
   * `[`): whether `text` (non-empty, no leading whitespace) opens a region there. Checked at the
   * start of the output and right after a region.
   */
  opensAtStart?(text: string): boolean;
  /**
   * Reads one region from `text` (what follows `marker`, "" for an unmarked region).
   * "incomplete": more text may complete it (never returned when `final`).
   */
  read(text: string, marker: string, final: boolean, tools: readonly ToolDefinition[]): RegionResult;
  /** Ids this format needs (Mistral's templates demand 9 alphanumerics). */
  readonly idLength?: number;
}

export class ToolCallStreamParser implements StreamingParser {
  private buf = "";
  private region: string | null = null;
  private atBoundary = true;
  private pendingSpace = "";
  private numCalls = 0;
  private emitted = false;

  constructor(
    private readonly format: ToolCallFormat,
    private readonly tools: readonly ToolDefinition[] = [],
  ) {}

  push(text: string): ParsedEvent[] {
    this.buf += text;
    return this.drain(false);
  }

  finish(): ParsedEvent[] {
    return this.drain(true);
  }

  private drain(final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    const f = this.format;
    for (;;) {
      if (this.region === null) {
        if (this.atBoundary && f.opensAtStart !== undefined) {
          const rest = this.buf.trimStart();
          if (rest.length === 0) {
            if (!final) break;
          } else if (f.opensAtStart(rest)) {
            this.content(out, this.buf.slice(0, this.buf.length - rest.length));
            this.buf = rest;
            this.region = "";
            continue;
          } else this.atBoundary = false;
        }
        let at = -1;
        let marker = "";
        for (const m of f.markers) {
          const i = this.buf.indexOf(m);
          if (i >= 0 && (at < 0 || i < at)) {
            at = i;
            marker = m;
          }
        }
        if (at >= 0) {
          this.content(out, this.buf.slice(0, at));
          this.buf = this.buf.slice(at + marker.length);
          this.region = marker;
          continue;
        }
        const hold = final ? 0 : partialMarkerLength(this.buf, f.markers);
        this.content(out, this.buf.slice(0, this.buf.length - hold));
        this.buf = this.buf.slice(this.buf.length - hold);
        break;
      }
      let r = f.read(this.buf, this.region, final, this.tools);
      if (r === "incomplete") {
        if (!final) break;
        r = "invalid";
      }
      if (r === "invalid") {
        // The marker goes out as text; what follows is scanned again as ordinary output.
        this.content(out, this.region);
        this.region = null;
        this.atBoundary = false;
        continue;
      }
      this.pendingSpace = "";
      for (const c of r.calls) {
        const id = c.id ?? newToolCallId(f.idLength);
        out.push({ type: "tool_call", index: this.numCalls++, id, name: c.name, arguments: c.arguments });
      }
      this.buf = this.buf.slice(r.consumed);
      this.region = null;
      this.atBoundary = true;
    }
    if (final) {
      if (this.numCalls === 0 && this.pendingSpace.length > 0) out.push({ type: "content", text: this.pendingSpace });
      this.pendingSpace = "";
    }
    return out;
  }

  /**
   * Blanks next to a call are not content: trailing whitespace is held until text follows (and
   * dropped before a call); after a call, leading whitespace is dropped unless content came
   * before the call (then it separates the two texts).
   */
  private content(out: ParsedEvent[], text: string): void {
    if (text.length === 0) return;
    const kept = text.trimEnd();
    if (kept.length === 0) {
      this.pendingSpace += text;
      return;
    }
    const lead = this.numCalls > 0 && !this.emitted ? "" : this.pendingSpace;
    out.push({ type: "content", text: lead + (lead === "" && this.numCalls > 0 && !this.emitted ? kept.trimStart() : kept) });
    this.emitted = true;
    this.pendingSpace = text.slice(kept.length);
  }
}
