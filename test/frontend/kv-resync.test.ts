// Lost KV events that no later event reveals (the last ones before an outage) are found from
// the workers' load metrics, and the index is rebuilt from the worker's dump.
import { test } from "node:test";
import assert from "node:assert/strict";
import { asWorkerId } from "../../src/protocols/index.ts";
import { postRaw, startServer, waitFor } from "../support/http.ts";

test("frontend - an index that lost a worker's last events catches up from its metrics and dump", async () => {
  const server = await startServer({ numWorkers: 1 });
  try {
    const pipeline = server.frontend.models.get("turbine-byte")!;
    const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: "z".repeat(320), max_tokens: 2 }));
    assert.equal(r.status, 200);
    await waitFor(() => pipeline.numIndexedBlocks >= 20, 5000, "the blocks in the index");
    const held = pipeline.numIndexedBlocks;
    // Forget everything about the worker, as if its events had been lost in transit.
    pipeline.router.indexer.removeWorker(asWorkerId(server.workers[0]!.workerId));
    assert.equal(pipeline.numIndexedBlocks, 0);
    await waitFor(() => pipeline.numIndexedBlocks === held, 5000, "the index to be rebuilt from the dump");
  } finally {
    await server.close();
  }
});
