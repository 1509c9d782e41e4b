// The KV router live, through HTTP: `turbine serve --engine mocker --workers 4 --router kv`
// under a shared-prefix workload, against an all-knowing placement of the same requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { postRaw, startServer } from "../support/http.ts";

const GROUPS = 8;
const PER_GROUP = 6;
const BLOCK = 16;

function systemPrompt(g: number): string {
  // ~1,000 characters (the byte model: one token each), different for each group.
  let s = `You are assistant number ${g}. `;
  while (s.length < 1000) s += `Rule ${s.length % 97} of group ${g}: answer briefly and politely. `;
  return s.slice(0, 1000);
}

test("router - kv routing sends each shared-prefix group to the worker holding its prefix", async () => {
  const server = await startServer({ numWorkers: 4, router: { policy: "kv" }, mocker: { speedup: 200 } });
  try {
    const served: string[][] = Array.from({ length: GROUPS }, () => []);
    let promptTokens = 0;
    let cachedTokens = 0;
    let oracleCached = 0;
    // Round r sends request r of every group at once.
    for (let r = 0; r < PER_GROUP; r++) {
      const results = await Promise.all(
        Array.from({ length: GROUPS }, async (_, g) => {
          const prompt = `${systemPrompt(g)}\nUser ${r}: question ${r * 31 + g}?`;
          const res = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt, max_tokens: 24, ignore_eos: true }));
          assert.equal(res.status, 200, JSON.stringify(res.json));
          return { g, worker: res.headers.get("x-turbine-worker")!, usage: (res.json as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } }).usage };
        }),
      );
      for (const { g, worker, usage } of results) {
        served[g]!.push(worker);
        promptTokens += usage.prompt_tokens;
        cachedTokens += usage.prompt_tokens_details.cached_tokens;
        // All-knowing placement with unbounded cache: every request after the group's first
        // reuses the full blocks of the shared prefix (BOS + system prompt + "\nUser ").
        const shared = 1 + 1000 + "\nUser ".length;
        if (r > 0) oracleCached += Math.floor(shared / BLOCK) * BLOCK;
      }
    }
    for (let g = 0; g < GROUPS; g++) {
      assert.equal(new Set(served[g]).size, 1, `group ${g} stayed on one worker: ${served[g]!.join(",")}`);
    }
    // The groups are spread over the workers rather than piled on one.
    assert.ok(new Set(served.map((s) => s[0])).size >= 3, `groups spread over at least 3 of 4 workers: ${served.map((s) => s[0]).join(",")}`);
    const hitRate = cachedTokens / promptTokens;
    const oracleRate = oracleCached / promptTokens;
    assert.ok(hitRate >= 0.9 * oracleRate, `hit rate ${hitRate.toFixed(3)} vs all-knowing ${oracleRate.toFixed(3)}`);
    // The router's own view agrees with what the engines report.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const m = /turbine_router_kv_hit_rate\{model="turbine-byte"\} ([0-9.]+)/.exec(metrics);
    assert.ok(m && Number(m[1]) > 0.5 * oracleRate, `router hit-rate gauge ${m?.[1]}`);
  } finally {
    await server.close();
  }
});

test("router - round-robin on the same workload reaches a much lower hit rate (control)", async () => {
  const server = await startServer({ numWorkers: 4, router: { policy: "round-robin" }, mocker: { speedup: 200 } });
  try {
    let promptTokens = 0;
    let cachedTokens = 0;
    for (let r = 0; r < PER_GROUP; r++) {
      for (let k = 0; k < GROUPS; k++) {
        // Rotate the order each round, so that round-robin does not happen to pin groups.
        const g = (k + r) % GROUPS;
        const prompt = `${systemPrompt(g)}\nUser ${r}: question ${r * 31 + g}?`;
        const res = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt, max_tokens: 4 }));
        const usage = (res.json as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } }).usage;
        promptTokens += usage.prompt_tokens;
        cachedTokens += usage.prompt_tokens_details.cached_tokens;
      }
    }
    // Each group now visits every worker once before it finds its prefix anywhere.
    assert.ok(cachedTokens / promptTokens < 0.5, `round-robin hit rate ${(cachedTokens / promptTokens).toFixed(3)}`);
  } finally {
    await server.close();
  }
});
