// Shared helpers for end-to-end tests through HTTP.
import { EmbeddedServer } from "../../src/cli/index.ts";
import type { EmbeddedServerOptions } from "../../src/cli/index.ts";

/** Starts `turbine serve` in this process on a free loopback port. */
export function startServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  return EmbeddedServer.start({ host: "127.0.0.1", port: 0, ...options, mocker: { speedup: 1000, ...options.mocker } });
}

/** POSTs a raw body and returns status, headers and parsed JSON. */
export async function postRaw(
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(url, { method: "POST", body, headers });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, json };
}

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
