// Run by test/support/services.test.ts with `node --test`: a suite whose cluster fixture fails
// half-way (etcd given a bad flag after NATS started). The run must fail and end on its own.
import { describe, test } from "node:test";
import { useCluster } from "./fleet.ts";

describe("half-started cluster", () => {
  useCluster({ etcdArgs: ["--no-such-flag"] });
  test("never runs", () => {});
});
