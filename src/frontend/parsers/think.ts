// `<think>` reasoning (DeepSeek R1, Qwen3, QwQ): the text between `<think>` and `</think>` is
// reasoning, the rest content. "deepseek_r1" starts in reasoning (R1's templates put `<think>`
// in the prompt, so the output often lacks it; an output without `</think>` is all reasoning,
// as in vLLM); "qwen3" starts in reasoning only when the output opens with `<think>` or the
// prompt ended inside one.
import { partialMarkerLength } from "./types.ts";
import type { ParsedEvent, StreamingParser } from "./types.ts";

const START = "<think>";
const END = "</think>";

export interface ThinkParserOptions {
  /** The output begins inside the reasoning block even without `<think>`. */
  startsInReasoning: boolean;
}

export class ThinkReasoningParser implements StreamingParser {
  private state: "start" | "reasoning" | "content" = "start";
  private buf = "";
  /** Whitespace held at the end of the reasoning (not sent if `</think>` follows). */
  private space = "";
  private trimLeading = true;

  constructor(private readonly options: ThinkParserOptions) {}

  push(text: string): ParsedEvent[] {
    this.buf += text;
    return this.drain(false);
  }

  finish(): ParsedEvent[] {
    return this.drain(true);
  }

  private drain(final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    for (;;) {
      if (this.state === "start") {
        const rest = this.buf.trimStart();
        if (rest.startsWith(START)) {
          this.buf = rest.slice(START.length);
          this.state = "reasoning";
        } else if (!final && START.startsWith(rest)) {
          break;
        } else {
          this.state = this.options.startsInReasoning ? "reasoning" : "content";
          this.trimLeading = this.options.startsInReasoning;
        }
        continue;
      }
      if (this.state === "reasoning") {
        const end = this.buf.indexOf(END);
        if (end >= 0) {
          this.emit(out, "reasoning", this.buf.slice(0, end), true);
          this.space = "";
          this.buf = this.buf.slice(end + END.length);
          this.state = "content";
          this.trimLeading = true;
          continue;
        }
        const hold = final ? 0 : partialMarkerLength(this.buf, [END]);
        this.emit(out, "reasoning", this.buf.slice(0, this.buf.length - hold), !final);
        if (final && this.space.length > 0) out.push({ type: "reasoning", text: this.space });
        this.buf = this.buf.slice(this.buf.length - hold);
        break;
      }
      this.emit(out, "content", this.buf, false);
      this.buf = "";
      break;
    }
    return out;
  }

  private emit(out: ParsedEvent[], type: "reasoning" | "content", text: string, holdSpace: boolean): void {
    let t = this.trimLeading ? text.trimStart() : text;
    if (t.length === 0) return;
    this.trimLeading = false;
    if (type === "reasoning") {
      t = this.space + t;
      this.space = "";
      if (holdSpace) {
        const kept = t.trimEnd();
        this.space = t.slice(kept.length);
        t = kept;
      }
      if (t.length === 0) return;
    }
    out.push({ type, text: t });
  }
}
