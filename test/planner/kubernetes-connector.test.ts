// The kubernetes connector against a recorded exchange: no API server can run here, so a local
// fake server replays what one answers (fixtures/k8s-scale-exchange.json) and checks each
// request the connector sends, in order: reads, replaces, and a 409 conflict that is retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { KubernetesConnector, createLogger } from "../../src/cli/index.ts";

interface Exchange {
  note: string;
  method: string;
  path: string;
  expect?: { spec: { replicas: number }; metadata: { resourceVersion: string } };
  status: number;
  response: unknown;
}

const { exchanges } = JSON.parse(readFileSync(new URL("./fixtures/k8s-scale-exchange.json", import.meta.url), "utf8")) as { exchanges: Exchange[] };

test("planner - kubernetes connector scales a Deployment through its scale subresource (recorded exchange)", async (t) => {
  const seen: string[] = [];
  const problems: string[] = [];
  let next = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const ex = exchanges[next++];
      const path = (req.url ?? "").split("?")[0];
      seen.push(`${req.method} ${path}`);
      if (ex === undefined || ex.method !== req.method || ex.path !== path) {
        problems.push(`unexpected ${req.method} ${path} (expected ${ex?.method} ${ex?.path})`);
        res.writeHead(500).end();
        return;
      }
      if (req.headers.authorization !== "Bearer test-token") problems.push(`${ex.note}: no bearer token`);
      if (ex.expect) {
        const sent = JSON.parse(body) as { spec?: { replicas?: number }; metadata?: { resourceVersion?: string } };
        if (sent.spec?.replicas !== ex.expect.spec.replicas || sent.metadata?.resourceVersion !== ex.expect.metadata.resourceVersion) problems.push(`${ex.note}: sent ${body}`);
      }
      res.writeHead(ex.status, { "content-type": "application/json" }).end(JSON.stringify(ex.response));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromClusterAndUser({ name: "fake", server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: "planner", token: "test-token" });

  const connector = await KubernetesConnector.connect({ deployments: { aggregated: "turbine-worker" }, namespace: "serving", log: createLogger("silent", "test"), kubeConfig });
  assert.equal(connector.numWorkers("aggregated"), 1);
  await connector.scale("aggregated", 3, { pool: "aggregated", current: 1, desired: 3, reason: "queue depth at 250% of target", cause: "queue depth" });
  assert.equal(connector.numWorkers("aggregated"), 3);
  await connector.scale("aggregated", 1, { pool: "aggregated", current: 3, desired: 1, reason: "kv use would be 20% of target on 1", cause: "kv use" });
  assert.equal(connector.numWorkers("aggregated"), 1);
  assert.deepEqual(problems, []);
  assert.equal(next, exchanges.length, `every recorded request was made: ${seen.join(", ")}`);
  assert.deepEqual(
    connector.records.map((r) => [r.from, r.to]),
    [
      [1, 3],
      [3, 1],
    ],
  );
});
