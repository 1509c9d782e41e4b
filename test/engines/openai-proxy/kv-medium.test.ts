// vLLM's KV event `medium` onto Turbine's tiers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tierOfMedium } from "../../../src/engines/kv-events-zmq/index.ts";

test("openai-proxy kv medium - GPU/CPU/disk and connector names map onto device/host/disk/remote", () => {
  assert.equal(tierOfMedium(null), "device");
  assert.equal(tierOfMedium("GPU"), "device");
  assert.equal(tierOfMedium("CPU"), "host");
  assert.equal(tierOfMedium("cpu"), "host");
  assert.equal(tierOfMedium("DISK"), "disk");
  assert.equal(tierOfMedium("local_disk"), "disk");
  assert.equal(tierOfMedium("Redis"), "remote");
  assert.equal(tierOfMedium("something-new"), "device");
});
