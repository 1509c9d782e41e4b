import { test } from "node:test";
import assert from "node:assert/strict";
import { KeysFileError, TenantDirectory, effectivePriority, hashApiKey, tenantMayUse } from "../../src/admission/index.ts";

const file = (tenants: unknown[]): string => JSON.stringify({ tenants });

test("admission - the keys file holds digests: a key resolves to its tenant, a revoked one says so, others are unknown", () => {
  const dir = TenantDirectory.parse(
    file([
      {
        name: "chat",
        priority: "high",
        weight: 2,
        keys: [`sha256:${hashApiKey("sk-chat")}`, { sha256: hashApiKey("sk-old"), revoked: true }],
        limits: { requestsPerMinute: 60, concurrentRequests: 4 },
        models: ["m1"],
      },
      { name: "batch", keys: [`sha256:${hashApiKey("sk-batch")}`] },
    ]),
  );
  const chat = dir.lookup("sk-chat");
  assert.equal(chat.kind, "tenant");
  assert.equal(chat.kind === "tenant" && chat.tenant.name, "chat");
  assert.equal(chat.kind === "tenant" && chat.tenant.weight, 2);
  assert.deepEqual(chat.kind === "tenant" && chat.tenant.limits, { requestsPerMinute: 60, concurrentRequests: 4 });
  assert.equal(dir.lookup("sk-old").kind, "revoked");
  assert.equal(dir.lookup("sk-nope").kind, "unknown");
  const batch = dir.lookup("sk-batch");
  assert.ok(batch.kind === "tenant");
  assert.equal(batch.tenant.priority, "normal");
  assert.ok(tenantMayUse(batch.tenant, "anything"));
  assert.ok(chat.kind === "tenant" && tenantMayUse(chat.tenant, "m1") && !tenantMayUse(chat.tenant, "m2"));
  assert.equal(dir.numKeys, 3);
});

test("admission - a malformed keys file is refused with the field at fault", () => {
  const bad: [string, RegExp][] = [
    ["{", /not valid JSON/],
    [JSON.stringify({}), /'tenants' array/],
    [file([{ name: "a", keys: ["sk-plaintext"] }]), /tenants\[0\]\.keys\[0\].*hashed/],
    [file([{ name: "a", keys: [], priority: "urgent" }]), /tenants\[0\]\.priority/],
    [file([{ name: "a", keys: [], limits: { requestsPerHour: 5 } }]), /requestsPerHour is not a known limit/],
    [file([{ name: "a", keys: [], limits: { requestsPerMinute: -1 } }]), /requestsPerMinute must be a positive number/],
    [file([{ name: "a", keys: [] }, { name: "a", keys: [] }]), /used twice/],
  ];
  for (const [text, re] of bad) assert.throws(() => TenantDirectory.parse(text), (e: unknown) => e instanceof KeysFileError && re.test(e.message), text);
});

test("admission - a request may lower its priority below its tenant's class, never raise it", () => {
  const dir = TenantDirectory.parse(file([{ name: "a", priority: "normal", keys: [] }]));
  const t = dir.tenants[0]!;
  assert.equal(effectivePriority(t, undefined), "normal");
  assert.equal(effectivePriority(t, "low"), "low");
  assert.equal(effectivePriority(t, "high"), "normal");
});
