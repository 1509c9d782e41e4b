// Splits a server-sent-event stream into the `data:` payloads of its events. Chunks may cut
// an event anywhere; events end at a blank line ("\n\n" or "\r\n\r\n").
export class SseParser {
  private buffer = "";

  /** Feeds a chunk; returns the data payloads of the events it completed. */
  push(chunk: string): string[] {
    this.buffer = this.buffer.length === 0 ? chunk : this.buffer + chunk;
    if (this.buffer.indexOf("\r") !== -1) this.buffer = this.buffer.replace(/\r\n?/g, "\n");
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const end = this.buffer.indexOf("\n\n", start);
      if (end === -1) break;
      const data = dataOf(this.buffer, start, end);
      if (data !== null) out.push(data);
      start = end + 2;
    }
    this.buffer = start === 0 ? this.buffer : this.buffer.slice(start);
    return out;
  }
}

/** The data of one event (its `data:` lines joined by "\n"), or null if it has none. */
function dataOf(text: string, start: number, end: number): string | null {
  // The common event is one line, "data: {...}": no split needed.
  if (text.startsWith("data: ", start) && text.indexOf("\n", start) >= end) return text.slice(start + 6, end);
  let data: string | null = null;
  for (const line of text.slice(start, end).split("\n")) {
    if (!line.startsWith("data:")) continue;
    const v = line.slice(line.startsWith("data: ") ? 6 : 5);
    data = data === null ? v : data + "\n" + v;
  }
  return data;
}
