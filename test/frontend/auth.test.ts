import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { startServer } from "../support/http.ts";
import { rawRequest } from "../support/raw-http.ts";

const MODEL = "turbine-byte";
const KEY = "secret123";

/** Percent-encodes every character of `s` but the slashes. */
const encodeAll = (s: string): string =>
  s
    .split("/")
    .map((seg) => [...seg].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""))
    .join("/");

const hex = (c: string): string => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/** Every spelling of `path` a client might send; `reaches` marks those the router matches to the same route. */
function spellings(path: string, origin: string): { target: string; reaches: boolean }[] {
  const segs = path.split("/").slice(1); // ["v1", "models"]
  const first = segs[0]!;
  const join = (head: string): string => "/" + [head, ...segs.slice(1)].join("/");
  const lastSlash = path.lastIndexOf("/");
  return [
    { target: path, reaches: true },
    { target: join(hex(first[0]!) + first.slice(1)), reaches: true }, // /%761/models
    { target: join(first[0]! + hex(first[1]!) + first.slice(2)), reaches: true }, // /v%31/models
    { target: encodeAll(path), reaches: true },
    { target: encodeAll(path).toUpperCase(), reaches: true },
    { target: `${origin}${path}`, reaches: true }, // absolute-form
    { target: `${origin}${join(hex(first[0]!) + first.slice(1))}`, reaches: true },
    { target: `${path}?x=1`, reaches: true },
    { target: `/${path}`, reaches: false },
    { target: `${path.slice(0, lastSlash)}//${path.slice(lastSlash + 1)}`, reaches: false },
    { target: `${path}/`, reaches: false },
    { target: path.toUpperCase(), reaches: false },
    { target: `/./${path.slice(1)}`, reaches: false },
    { target: `/x/..${path}`, reaches: false },
    { target: path.replaceAll("/", "%2F"), reaches: false },
    { target: `${path}%00`, reaches: false },
    { target: `${path};x`, reaches: false },
  ];
}

describe("frontend - API keys", () => {
  let server: EmbeddedServer;
  let origin: string;
  before(async () => {
    server = await startServer({ numWorkers: 1, apiKeys: [KEY] });
    origin = server.url;
  });
  after(() => server.close());

  const routes: { method: string; path: string; body?: string }[] = [
    { method: "GET", path: "/v1/models" },
    { method: "HEAD", path: "/v1/models" },
    { method: "POST", path: "/v1/chat/completions", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }) },
    { method: "POST", path: "/v1/completions", body: JSON.stringify({ model: MODEL, prompt: "hi", max_tokens: 2 }) },
    { method: "GET", path: "/metrics" },
    { method: "GET", path: "/v1/no-such-route" },
    { method: "GET", path: "/no/such/route" },
  ];

  test("frontend - no spelling of any route reaches a handler without the key", async () => {
    const failures: string[] = [];
    let reachedWithKey = 0;
    for (const r of routes) {
      for (const s of spellings(r.path, origin)) {
        const headers: Record<string, string> = r.body ? { "content-type": "application/json" } : {};
        const req = { method: r.method, target: s.target, headers, ...(r.body ? { body: r.body } : {}) };
        const denied = await rawRequest(origin, req);
        // Never served: 401 (deny by default, unknown paths included) or a 400 for a target
        // that is not a valid URL at all.
        if (denied.status !== 401 && denied.status !== 400) failures.push(`${r.method} ${s.target} without key: ${denied.status} ${denied.body.slice(0, 80)}`);
        if (denied.status === 401 && r.method !== "HEAD") {
          const e = (JSON.parse(denied.body) as { error: { type: string; code: string } }).error;
          if (e.type !== "authentication_error" || e.code !== "auth_invalid_api_key") failures.push(`${s.target}: 401 not in OpenAI's shape`);
        }
        // The key opens the spellings the router matches: the denial above was a real one.
        const known = !r.path.includes("no-such") && !r.path.includes("no/such");
        if (s.reaches && known) {
          const allowed = await rawRequest(origin, { ...req, headers: { ...headers, authorization: `Bearer ${KEY}` } });
          if (allowed.status !== 200) failures.push(`${r.method} ${s.target} with key: ${allowed.status} ${allowed.body.slice(0, 80)}`);
          else reachedWithKey++;
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(reachedWithKey >= 5 * 8, `the encoded spellings reach the handlers with the key (${reachedWithKey})`);
  });

  test("frontend - the Bearer scheme is case-insensitive; a wrong key or scheme is a 401", async () => {
    const target = "/v1/models";
    for (const auth of [`Bearer ${KEY}`, `bearer ${KEY}`, `BEARER ${KEY}`, `bEaReR  ${KEY} `]) {
      assert.equal((await rawRequest(origin, { method: "GET", target, headers: { authorization: auth } })).status, 200, auth);
    }
    for (const auth of ["Bearer nope", `Basic ${KEY}`, KEY, `Bearer${KEY}`, "Bearer ", `Bearer ${KEY}x`]) {
      assert.equal((await rawRequest(origin, { method: "GET", target, headers: { authorization: auth } })).status, 401, auth);
    }
  });

  test("frontend - probes are open, /metrics needs the key when keys are set", async () => {
    assert.equal((await rawRequest(origin, { method: "GET", target: "/health" })).status, 200);
    assert.equal((await rawRequest(origin, { method: "GET", target: "/live" })).status, 200);
    assert.equal((await rawRequest(origin, { method: "HEAD", target: "/live" })).status, 200);
    assert.equal((await rawRequest(origin, { method: "GET", target: "/metrics" })).status, 401);
    const m = await rawRequest(origin, { method: "GET", target: "/metrics", headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(m.status, 200);
    assert.match(m.body, /turbine_requests_total\{model="",endpoint="metrics",status="401"\} [1-9]/, "refusals are counted");
  });

  test("frontend - with --metrics-public, /metrics is open and /v1 still needs the key", async () => {
    const open = await startServer({ numWorkers: 1, apiKeys: [KEY], http: { metricsPublic: true } });
    try {
      assert.equal((await rawRequest(open.url, { method: "GET", target: "/metrics" })).status, 200);
      assert.equal((await rawRequest(open.url, { method: "GET", target: "/%761/models" })).status, 401);
    } finally {
      await open.close();
    }
  });
});
