// HTTP/1.1 written by hand over a socket: request targets that fetch would normalize
// (percent-encoded, absolute-form, dot segments), oversized headers, bytes that are not UTF-8.
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  /** The request target exactly as sent: "/v1/models", "http://host/v1/models", "/%761/models". */
  target: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Sends one request on its own connection and reads the whole response (fails after `timeoutMs`). */
export function rawRequest(url: string, req: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
  const headers: Record<string, string> = { host: `${hostname}:${port}`, connection: "close", ...req.headers };
  if (body.length > 0 || req.method === "POST") headers["content-length"] = String(body.length);
  const head = `${req.method} ${req.target} HTTP/1.1\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response to ${req.method} ${req.target} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const end = text.indexOf("\r\n\r\n");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m || end < 0) {
        reject(new Error(`not an HTTP response to ${req.method} ${req.target}: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const hs: Record<string, string> = {};
      for (const line of text.slice(0, end).split("\r\n").slice(1)) {
        const i = line.indexOf(":");
        if (i > 0) hs[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let payload = text.slice(end + 4);
      if (hs["transfer-encoding"] === "chunked") payload = dechunk(payload);
      resolve({ status: Number(m[1]), headers: hs, body: payload });
    });
    socket.write(head);
    if (body.length > 0) socket.write(body);
  });
}

function dechunk(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const nl = s.indexOf("\r\n", i);
    if (nl < 0) break;
    const size = parseInt(s.slice(i, nl), 16);
    if (!(size > 0)) break;
    out += s.slice(nl + 2, nl + 2 + size);
    i = nl + 2 + size + 2;
  }
  return out;
}
