// gpt-oss's harmony format, both reasoning and tool calls. The output is a series of messages
// `<|start|>assistant<|channel|>CHANNEL[ to=RECIPIENT][ <|constrain|>json]<|message|>BODY<|end|>`
// (the first message's `<|start|>assistant` is in the prompt; a call ends with `<|call|>`, the
// answer with `<|return|>`). Channel "analysis" is reasoning; "final", and "commentary" without
// a recipient (a preamble), are content; "commentary to=functions.NAME" is a call of NAME with
// BODY as its JSON arguments. Text outside any message is content.
import { argumentsOfText } from "./json-scan.ts";
import { newToolCallId, partialMarkerLength } from "./types.ts";
import type { ParsedEvent, StreamingParser } from "./types.ts";

const MESSAGE = "<|message|>";
const HEADER_STARTS = ["<|start|>", "<|channel|>"];
const BODY_ENDS = ["<|end|>", "<|call|>", "<|return|>", ...HEADER_STARTS];
const ALL = [MESSAGE, ...BODY_ENDS, "<|constrain|>"];

export interface HarmonyParserOptions {
  /** Turn `to=functions.*` messages into tool calls (else their bodies are content). */
  toolCalls: boolean;
}

type Body = { kind: "reasoning" | "content" } | { kind: "call"; name: string; text: string; header: string };

export class HarmonyParser implements StreamingParser {
  private buf = "";
  private state: "between" | "header" | "body" = "between";
  private header = "";
  private body: Body = { kind: "content" };
  private numCalls = 0;

  constructor(private readonly options: HarmonyParserOptions) {}

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
      if (this.state === "between") {
        const start = HEADER_STARTS.find((m) => this.buf.startsWith(m));
        if (start !== undefined) {
          this.state = "header";
          this.header = "";
          continue;
        }
        if (this.buf.length === 0 || (!final && partialMarkerLength(this.buf, HEADER_STARTS) === this.buf.length)) break;
        // Text outside a message (a model that does not follow the format): content.
        this.state = "body";
        this.body = { kind: "content" };
        continue;
      }
      if (this.state === "header") {
        const at = this.buf.indexOf(MESSAGE);
        if (at < 0) {
          if (final) {
            this.emitText(out, "content", this.header + this.buf);
            this.buf = "";
          }
          break;
        }
        this.header += this.buf.slice(0, at);
        this.buf = this.buf.slice(at + MESSAGE.length);
        this.body = this.bodyOf(this.header);
        this.state = "body";
        continue;
      }
      // Body: stream it (calls are held until they close) up to the next terminator.
      let at = -1;
      let end = "";
      for (const m of BODY_ENDS) {
        const i = this.buf.indexOf(m);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          end = m;
        }
      }
      if (at < 0) {
        const hold = final ? 0 : partialMarkerLength(this.buf, ALL);
        this.bodyText(out, this.buf.slice(0, this.buf.length - hold));
        this.buf = this.buf.slice(this.buf.length - hold);
        if (final) this.closeBody(out);
        break;
      }
      this.bodyText(out, this.buf.slice(0, at));
      this.closeBody(out);
      // `<|start|>`/`<|channel|>` open the next header; the other terminators are consumed.
      this.buf = HEADER_STARTS.includes(end) ? this.buf.slice(at) : this.buf.slice(at + end.length);
      this.state = "between";
    }
    return out;
  }

  private bodyOf(header: string): Body {
    const channel = /<\|channel\|>\s*([A-Za-z_]+)/.exec(header)?.[1];
    const recipient = /to=([^\s<]+)/.exec(header)?.[1];
    if (recipient !== undefined && recipient.startsWith("functions.") && this.options.toolCalls) {
      return { kind: "call", name: recipient.slice("functions.".length), text: "", header };
    }
    return { kind: channel === "analysis" ? "reasoning" : "content" };
  }

  private bodyText(out: ParsedEvent[], text: string): void {
    if (text.length === 0) return;
    if (this.body.kind === "call") this.body.text += text;
    else this.emitText(out, this.body.kind, text);
  }

  private closeBody(out: ParsedEvent[]): void {
    const b = this.body;
    this.body = { kind: "content" };
    if (b.kind !== "call") return;
    const args = argumentsOfText(b.text.trim());
    if (args === undefined || b.name.length === 0) {
      this.emitText(out, "content", b.text);
      return;
    }
    out.push({ type: "tool_call", index: this.numCalls++, id: newToolCallId(), name: b.name, arguments: args });
  }

  private emitText(out: ParsedEvent[], type: "reasoning" | "content", text: string): void {
    if (text.length > 0) out.push({ type, text });
  }
}
