// /fleet is an authenticated route like /v1: with API keys, the page and its event stream
// need the key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../support/http.ts";

test("frontend fleet - with an API key, /fleet and /fleet/events refuse requests without it", async () => {
  const server = await startServer({ numWorkers: 1, apiKeys: ["sekrit"] });
  try {
    for (const path of ["/fleet", "/fleet/events"]) {
      const r = await fetch(`${server.url}${path}`);
      assert.equal(r.status, 401, path);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, "auth_invalid_api_key");
    }
    const page = await fetch(`${server.url}/fleet`, { headers: { authorization: "Bearer sekrit" } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /new EventSource\("\/fleet\/events"\)/);
    const ctl = new AbortController();
    const events = await fetch(`${server.url}/fleet/events`, { headers: { authorization: "Bearer sekrit" }, signal: ctl.signal });
    assert.equal(events.status, 200);
    const first = await events.body!.getReader().read();
    assert.match(new TextDecoder().decode(first.value), /^event: snapshot\ndata: \{"columns":/);
    ctl.abort();
    assert.equal((await fetch(`${server.url}/health`)).status, 200, "probes stay open");
  } finally {
    await server.close();
  }
});
