// deploy/kubernetes: both overlays rendered by `kubectl kustomize`, every object validated
// against the Kubernetes API schemas (kubernetes-models; the ServiceMonitor CRD against the
// fields of monitoring.coreos.com/v1 it uses), and the rules an operator relies on checked on
// the rendered objects: probes, drains, disruption budgets, least-privilege RBAC for the
// planner, and command lines the CLI accepts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { loadAllYaml } from "@kubernetes/client-node";
import { Ajv } from "ajv";
import { checkTurbineArgs, subcommandNames } from "./cli-flags.ts";

const ROOT = new URL("../../deploy/kubernetes/", import.meta.url).pathname;
const run = promisify(execFile);

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped YAML */
type Obj = Record<string, any>;

async function render(overlay: string): Promise<Obj[]> {
  const { stdout } = await run("kubectl", ["kustomize", `${ROOT}overlays/${overlay}`], { maxBuffer: 16 << 20 });
  return (loadAllYaml(stdout) as Obj[]).filter((o) => o);
}

// The ServiceMonitor fields these manifests use, as the prometheus-operator CRD defines them.
const serviceMonitorSchema = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  properties: {
    apiVersion: { const: "monitoring.coreos.com/v1" },
    kind: { const: "ServiceMonitor" },
    metadata: { type: "object", required: ["name"], properties: { name: { type: "string" }, namespace: { type: "string" }, labels: { type: "object" } } },
    spec: {
      type: "object",
      required: ["selector", "endpoints"],
      additionalProperties: false,
      properties: {
        selector: { type: "object", properties: { matchLabels: { type: "object", additionalProperties: { type: "string" } } } },
        endpoints: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            additionalProperties: false,
            properties: { port: { type: "string" }, path: { type: "string" }, interval: { type: "string", pattern: "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$" } },
          },
        },
      },
    },
  },
};
const validateServiceMonitor = new Ajv({ strict: true }).compile(serviceMonitorSchema);

/** Validates one object against its Kubernetes schema; returns the problems. */
async function validate(o: Obj): Promise<string[]> {
  const where = `${o["kind"]}/${o["metadata"]?.name}`;
  if (o["kind"] === "ServiceMonitor") {
    return validateServiceMonitor(o) ? [] : [`${where}: ${JSON.stringify(validateServiceMonitor.errors)}`];
  }
  const apiVersion = String(o["apiVersion"]);
  let model: { new (data: Obj): { validate(): void } };
  try {
    const mod = (await import(`kubernetes-models/${apiVersion}/${o["kind"]}`)) as Record<string, any>;
    model = mod[o["kind"] as string];
  } catch {
    return [`${where}: no schema for ${apiVersion} ${o["kind"]}`];
  }
  try {
    new model(o).validate();
    return [];
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
}

const workloads = (objs: Obj[]): Obj[] => objs.filter((o) => o["kind"] === "Deployment" || o["kind"] === "StatefulSet");
const named = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x["kind"] === kind && x["metadata"].name === name);
  assert.ok(o, `${kind}/${name} is rendered`);
  return o;
};
const turbineContainers = (objs: Obj[]): { owner: Obj; container: Obj }[] =>
  workloads(objs).flatMap((owner) =>
    (owner["spec"].template.spec.containers as Obj[]).filter((c) => c["image"].includes("turbine")).map((container) => ({ owner, container })),
  );
const argValue = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

const overlays = { embedded: await render("embedded"), distributed: await render("distributed") };

test("deploy - both overlays render, and every object is valid against the Kubernetes API schemas", async () => {
  for (const [name, objs] of Object.entries(overlays)) {
    assert.ok(objs.length > 0, `${name} renders objects`);
    const problems = (await Promise.all(objs.map(validate))).flat();
    assert.deepEqual(problems, [], name);
    for (const o of objs) if (o["kind"] !== "Namespace") assert.equal(o["metadata"].namespace, "turbine", `${o["kind"]}/${o["metadata"].name} is in the turbine namespace`);
  }
  // The validator catches a bad object (it is not a check that always passes).
  assert.notDeepEqual(await validate({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { replicas: "two" } }), []);
  assert.notDeepEqual(await validate({ apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" }, spec: { endpoints: [] } }), []);
});

test("deploy - the embedded overlay is one pod running turbine serve, with its data on a volume claim", () => {
  const objs = overlays.embedded;
  const deployments = workloads(objs);
  assert.equal(deployments.length, 1);
  const d = deployments[0]!;
  assert.equal(d["spec"].replicas, 1);
  assert.equal(d["spec"].template.spec.containers[0].args[0], "serve");
  const data = (d["spec"].template.spec.volumes as Obj[]).find((v) => v["name"] === "data")!;
  assert.equal(data["persistentVolumeClaim"]?.claimName, "turbine-data");
  assert.equal(data["emptyDir"], undefined);
  named(objs, "PersistentVolumeClaim", "turbine-data");
  assert.ok(!objs.some((o) => /etcd|nats/.test(o["metadata"].name)), "no etcd or NATS in the embedded overlay");
});

test("deploy - the distributed overlay has etcd, NATS, a frontend with its Service, and a worker Deployment per role", () => {
  const objs = overlays.distributed;
  const etcd = named(objs, "StatefulSet", "etcd");
  assert.equal(etcd["spec"].serviceName, "etcd");
  assert.equal(named(objs, "Service", "etcd")["spec"].clusterIP, "None");
  assert.ok(etcd["spec"].volumeClaimTemplates.length > 0, "etcd keeps its data");
  named(objs, "Deployment", "nats");
  assert.deepEqual(named(objs, "Service", "nats")["spec"].ports.map((p: Obj) => p["port"]), [4222, 8222]);
  const fe = named(objs, "Deployment", "turbine-frontend");
  const feArgs = fe["spec"].template.spec.containers[0].args as string[];
  assert.equal(feArgs[0], "frontend");
  assert.equal(argValue(feArgs, "--etcd"), "http://etcd:2379");
  assert.equal(argValue(feArgs, "--nats"), "nats://nats:4222");
  named(objs, "Service", "turbine-frontend");
  for (const role of ["decode", "prefill"]) {
    const w = named(objs, "Deployment", `turbine-${role}`);
    const args = w["spec"].template.spec.containers[0].args as string[];
    assert.equal(args[0], "worker");
    assert.equal(argValue(args, "--role"), role);
    assert.equal(argValue(args, "--request-plane"), argValue(feArgs, "--request-plane"), "one request plane for the fleet");
  }
  // GPU requests are there for the user to set, commented out.
  const source = readFileSync(`${ROOT}overlays/distributed/workers.yaml`, "utf8");
  assert.match(source, /^\s*# nvidia\.com\/gpu: 1$/m);
  // Every Service selects pods of some workload, and its target ports are named container ports.
  for (const svc of objs.filter((o) => o["kind"] === "Service")) {
    const owner = workloads(objs).find((w) => matches(svc["spec"].selector, w["spec"].template.metadata.labels));
    assert.ok(owner, `Service/${svc["metadata"].name} selects pods`);
    const ports = (owner["spec"].template.spec.containers as Obj[]).flatMap((c) => (c["ports"] ?? []) as Obj[]);
    for (const p of svc["spec"].ports as Obj[]) {
      const target = p["targetPort"] ?? p["port"];
      assert.ok(ports.some((cp) => cp["name"] === target || cp["containerPort"] === target), `Service/${svc["metadata"].name} port ${target}`);
    }
  }
  for (const sm of objs.filter((o) => o["kind"] === "ServiceMonitor")) {
    const svc = objs.find((o) => o["kind"] === "Service" && matches(sm["spec"].selector.matchLabels, o["metadata"].labels ?? {}));
    assert.ok(svc, `ServiceMonitor/${sm["metadata"].name} selects a Service`);
    for (const e of sm["spec"].endpoints as Obj[]) assert.ok((svc["spec"].ports as Obj[]).some((p) => p["name"] === e["port"]));
  }
});

test("deploy - every Turbine pod is probed on /health and /live, and workers drain in preStop within their grace period", () => {
  for (const [name, objs] of Object.entries(overlays)) {
    for (const { owner, container } of turbineContainers(objs)) {
      const where = `${name}: ${owner["metadata"].name}`;
      if (container["args"][0] === "planner") continue; // no HTTP server of its own in these manifests
      assert.equal(container["readinessProbe"]?.httpGet?.path, "/health", where);
      assert.equal(container["livenessProbe"]?.httpGet?.path, "/live", where);
      const port = container["readinessProbe"].httpGet.port;
      assert.ok((container["ports"] as Obj[]).some((p) => p["name"] === port), `${where}: probe port ${port} is declared`);
      // Every $(VAR) in the args is defined in the container's env.
      for (const arg of container["args"] as string[]) {
        for (const m of arg.matchAll(/\$\((\w+)\)/g)) assert.ok((container["env"] as Obj[]).some((e) => e["name"] === m[1]), `${where}: $(${m[1]}) is defined`);
      }
      if (container["args"][0] !== "worker") continue;
      const args = container["args"] as string[];
      const drainS = Number(argValue(args, "--drain-timeout-ms")) / 1000;
      assert.ok(drainS > 0, `${where}: an explicit drain timeout`);
      const preStop = (container["lifecycle"]?.preStop?.exec?.command as string[]).join(" ");
      assert.match(preStop, new RegExp(`127\\.0\\.0\\.1:${argValue(args, "--metrics-port")}/drain`), `${where}: preStop drains through the worker's status port`);
      assert.match(preStop, /method:'POST'/);
      const grace = owner["spec"].template.spec.terminationGracePeriodSeconds as number;
      assert.ok(grace >= drainS + 10, `${where}: grace ${grace} s outlasts the ${drainS} s drain`);
      assert.equal(argValue(args, "--metrics-host"), "0.0.0.0", `${where}: probes reach the status port`);
    }
  }
});

test("deploy - every workload but the planner has a PodDisruptionBudget", () => {
  for (const [name, objs] of Object.entries(overlays)) {
    const pdbs = objs.filter((o) => o["kind"] === "PodDisruptionBudget");
    for (const w of workloads(objs)) {
      const labels = w["spec"].template.metadata.labels as Record<string, string>;
      const covering = pdbs.filter((p) => matches(p["spec"].selector.matchLabels, labels));
      if (labels["app.kubernetes.io/component"] === "planner") assert.equal(covering.length, 0);
      else if (w["metadata"].name !== "nats") assert.equal(covering.length, 1, `${name}: ${w["metadata"].name} has one budget`);
    }
  }
});

test("deploy - the planner may only read and scale the worker Deployments", () => {
  const objs = overlays.distributed;
  const planner = named(objs, "Deployment", "turbine-planner");
  const sa = planner["spec"].template.spec.serviceAccountName as string;
  named(objs, "ServiceAccount", sa);
  assert.ok(workloads(objs).filter((w) => w["spec"].template.spec.serviceAccountName === sa).length === 1, "no other pod runs as the planner");
  const workerNames = workloads(objs)
    .filter((w) => w["spec"].template.metadata.labels["app.kubernetes.io/component"] === "worker")
    .map((w) => w["metadata"].name as string)
    .sort();
  assert.deepEqual(workerNames, ["turbine-decode", "turbine-prefill"]);
  const bindings = objs.filter((o) => o["kind"] === "RoleBinding" || o["kind"] === "ClusterRoleBinding");
  const mine = bindings.filter((b) => (b["subjects"] as Obj[]).some((s) => s["kind"] === "ServiceAccount" && s["name"] === sa));
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!["kind"], "RoleBinding", "namespaced, never cluster-wide");
  assert.ok(!objs.some((o) => o["kind"] === "ClusterRole"));
  const role = named(objs, "Role", mine[0]!["roleRef"].name);
  let scales = false;
  for (const rule of role["rules"] as Obj[]) {
    assert.deepEqual(rule["apiGroups"], ["apps"]);
    assert.deepEqual([...(rule["resourceNames"] as string[])].sort(), workerNames, "only the worker Deployments");
    for (const r of rule["resources"] as string[]) assert.ok(["deployments", "deployments/scale"].includes(r), r);
    const allowed = (rule["resources"] as string[]).includes("deployments/scale") ? ["get", "update", "patch"] : ["get", "list", "watch"];
    for (const v of rule["verbs"] as string[]) assert.ok(allowed.includes(v), `verb ${v} on ${rule["resources"]}`);
    if ((rule["resources"] as string[]).includes("deployments/scale") && (rule["verbs"] as string[]).includes("patch")) scales = true;
  }
  assert.ok(scales, "it can scale them");
});

test("deploy - every command line in the manifests is one the CLI accepts", () => {
  const hasPlanner = subcommandNames().includes("planner");
  let checked = 0;
  for (const [name, objs] of Object.entries(overlays)) {
    for (const { owner, container } of turbineContainers(objs)) {
      const args = container["args"] as string[];
      // `turbine planner` is another change's command: its flags are checked once it exists.
      if (args[0] === "planner" && !hasPlanner) continue;
      assert.deepEqual(checkTurbineArgs(args), [], `${name}: ${owner["metadata"].name}`);
      checked++;
    }
  }
  assert.ok(checked >= 4, `checked ${checked} command lines`);
});
