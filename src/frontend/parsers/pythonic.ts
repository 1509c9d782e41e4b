// Pythonic tool calls (Llama 3.2 / Llama 4, vLLM's "pythonic"): the output is a Python list of
// calls with keyword arguments, `[get_weather(city='Paris'), get_time()]`, optionally between
// `<|python_start|>` and `<|python_end|>`. Arguments are Python literals (strings, numbers,
// True/False/None, lists, dicts), turned into JSON.
import { balancedEnd } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";
import type { RawToolCall } from "./types.ts";

const END_TAG = "<|python_end|>";

export const pythonicFormat: ToolCallFormat = {
  name: "pythonic",
  markers: ["<|python_start|>"],
  opensAtStart: (text) => text.startsWith("["),
  read(text, marker, final): RegionResult {
    let pos = 0;
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    if (pos >= text.length) return final ? "invalid" : "incomplete";
    if (text[pos] !== "[") return "invalid";
    const end = balancedEnd(text, pos, true);
    if (end < 0) return final ? "invalid" : "incomplete";
    const calls = parseCallList(text.slice(pos, end));
    if (calls === undefined) return "invalid";
    let consumed = end;
    if (marker !== "") {
      const rest = text.slice(end).trimStart();
      if (rest.startsWith(END_TAG)) consumed = text.length - rest.length + END_TAG.length;
      else if (!final && END_TAG.startsWith(rest)) return "incomplete";
    }
    return { consumed, calls };
  },
};

/** Parses `[f(a=1, b='x'), g()]`; undefined when it is anything else. */
export function parseCallList(src: string): RawToolCall[] | undefined {
  const p = new PyParser(src);
  try {
    p.expect("[");
    const calls: RawToolCall[] = [];
    if (!p.eat("]")) {
      do {
        const name = p.identifier(true);
        p.expect("(");
        const args: Record<string, unknown> = {};
        if (!p.eat(")")) {
          do {
            const key = p.identifier(false);
            p.expect("=");
            args[key] = p.value();
          } while (p.eat(","));
          p.expect(")");
        }
        calls.push({ name, arguments: JSON.stringify(args) });
      } while (p.eat(","));
      p.expect("]");
    }
    p.skip();
    return p.atEnd() && calls.length > 0 ? calls : undefined;
  } catch {
    return undefined;
  }
}

class PyParser {
  private pos = 0;
  constructor(private readonly src: string) {}

  skip(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  eat(token: string): boolean {
    this.skip();
    if (!this.src.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  expect(token: string): void {
    if (!this.eat(token)) throw new SyntaxError(`expected ${token}`);
  }

  identifier(dotted: boolean): string {
    this.skip();
    const re = dotted ? /[A-Za-z_][A-Za-z0-9_.-]*/y : /[A-Za-z_][A-Za-z0-9_]*/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (m === null) throw new SyntaxError("expected a name");
    this.pos += m[0].length;
    return m[0];
  }

  value(): unknown {
    this.skip();
    const c = this.src[this.pos];
    if (c === "'" || c === '"') return this.string(c);
    if (c === "[" || c === "(") {
      const close = c === "[" ? "]" : ")";
      this.pos++;
      const list: unknown[] = [];
      if (!this.eat(close)) {
        do {
          if (this.peek(close)) break;
          list.push(this.value());
        } while (this.eat(","));
        this.expect(close);
      }
      return list;
    }
    if (c === "{") {
      this.pos++;
      const obj: Record<string, unknown> = {};
      if (!this.eat("}")) {
        do {
          if (this.peek("}")) break;
          const k = this.value();
          if (typeof k !== "string" && typeof k !== "number") throw new SyntaxError("dict key");
          this.expect(":");
          obj[String(k)] = this.value();
        } while (this.eat(","));
        this.expect("}");
      }
      return obj;
    }
    const re = /-?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|True|False|None/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (m === null) throw new SyntaxError("expected a literal");
    this.pos += m[0].length;
    if (m[0] === "True") return true;
    if (m[0] === "False") return false;
    if (m[0] === "None") return null;
    return Number(m[0]);
  }

  private peek(token: string): boolean {
    this.skip();
    return this.src.startsWith(token, this.pos);
  }

  private string(quote: string): string {
    let out = "";
    this.pos++;
    for (; this.pos < this.src.length; this.pos++) {
      const c = this.src[this.pos]!;
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c === "\\") {
        const n = this.src[++this.pos];
        const esc: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"' };
        out += n !== undefined && n in esc ? esc[n] : `\\${n ?? ""}`;
      } else out += c;
    }
    throw new SyntaxError("unterminated string");
  }
}
