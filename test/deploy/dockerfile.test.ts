// The container image's rules, checked on deploy/container/Dockerfile itself. This sandbox
// cannot build and run the image (docs/deploy.md, "Container image": no registry to pull the
// Node base image or npm packages from, and crun cannot set a container's rlimits here), so
// the Dockerfile is parsed and linted instead, and its command line is checked against the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkTurbineArgs } from "./cli-flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOCKERFILE = join(ROOT, "deploy/container/Dockerfile");

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions of a Dockerfile: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      line = line.slice(0, -1) + " " + lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start + 1} is not an instruction: ${line}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** The instructions of each stage, by stage name. */
function stages(instructions: Instruction[]): Map<string, Instruction[]> {
  const out = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /\sAS\s+(\S+)$/i.exec(ins.args);
      assert.ok(m, `line ${ins.line}: every stage is named (FROM … AS name)`);
      current = [];
      out.set(m[1]!, current);
    }
    current?.push(ins);
  }
  return out;
}

const instructions = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
const byStage = stages(instructions);
const stageNames = [...byStage.keys()];
const final = byStage.get(stageNames[stageNames.length - 1]!)!;
const json = (ins: Instruction | undefined): string[] => JSON.parse(ins?.args ?? "null") as string[];

test("deploy - the Dockerfile is multi-stage: dependencies from the lockfile with npm ci --omit=optional", () => {
  assert.ok(byStage.size >= 2, "a build stage and a runtime stage");
  const deps = byStage.get("deps")!;
  assert.ok(deps, "a 'deps' stage");
  const runs = deps.filter((i) => i.keyword === "RUN").map((i) => i.args);
  assert.ok(runs.some((r) => /\bnpm ci\b/.test(r) && r.includes("--omit=optional")), "npm ci --omit=optional");
  assert.ok(!runs.some((r) => /\bnpm (install|i)\b/.test(r)), "npm ci, never npm install");
  // The manifests are copied before npm ci, and nothing else: a source change keeps the layer.
  const ci = deps.findIndex((i) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.args));
  const copies = deps.slice(0, ci).filter((i) => i.keyword === "COPY").map((i) => i.args);
  assert.deepEqual(copies, ["package.json package-lock.json ./"]);
  // The runtime stage takes node_modules from the build stage instead of installing again.
  assert.ok(final.some((i) => i.keyword === "COPY" && i.args.startsWith("--from=deps ") && i.args.includes("node_modules")));
  assert.ok(!final.some((i) => i.keyword === "RUN" && /\bnpm\b/.test(i.args)));
});

test("deploy - the image runs as a non-root user with a data volume for models and the KV disk tier", () => {
  const user = final.filter((i) => i.keyword === "USER").at(-1);
  assert.ok(user, "a USER in the runtime stage");
  const [uid] = user.args.split(":");
  assert.notEqual(uid, "root");
  assert.ok(Number(uid) > 0, `USER ${user.args} is numeric and not 0 (Kubernetes runAsNonRoot needs a numeric uid)`);
  // Nothing after USER switches back.
  const after = final.slice(final.indexOf(user) + 1);
  assert.ok(!after.some((i) => i.keyword === "USER"));
  const volume = final.find((i) => i.keyword === "VOLUME");
  assert.deepEqual(json(volume), ["/data"]);
  const env = final.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ");
  assert.match(env, /TURBINE_DATA_DIR=\/data\b/, "Turbine writes generated models under the volume");
  const run = final.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" ");
  assert.match(run, new RegExp(`--uid ${uid}\\b`), "the user exists with that uid");
  assert.match(run, /chown -R turbine:turbine \/data/, "the volume belongs to the user");
});

test("deploy - the image has a HEALTHCHECK on /live, and its command is one the CLI accepts", () => {
  const health = final.find((i) => i.keyword === "HEALTHCHECK");
  assert.ok(health);
  assert.match(health.args, /--interval=\d+s/);
  assert.match(health.args, /--timeout=\d+s/);
  const cmd = /CMD\s+(\[.*\])$/.exec(health.args);
  assert.ok(cmd, "exec form");
  assert.match(cmd[1]!, /\/live/);
  const entry = json(final.find((i) => i.keyword === "ENTRYPOINT"));
  assert.deepEqual(entry, ["node", "/app/bin/turbine.js"]);
  const args = json(final.find((i) => i.keyword === "CMD"));
  assert.deepEqual(checkTurbineArgs(args), []);
  assert.ok(args.includes("0.0.0.0"), "listens on every address inside the container");
  const exposed = final.filter((i) => i.keyword === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
  assert.ok(exposed.includes(args[args.indexOf("--port") + 1]!), "the served port is exposed");
});

test("deploy - every path the image copies exists, and the build context leaves the rest out", () => {
  for (const ins of instructions.filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))) {
    const parts = ins.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src} (line ${ins.line}) exists`);
  }
  const ignore = readFileSync(`${DOCKERFILE}.dockerignore`, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  assert.equal(ignore[0], "**", "everything is excluded first");
  for (const path of ["package.json", "package-lock.json", "bin/**", "src/**"]) assert.ok(ignore.includes(`!${path}`), `${path} is let in`);
  // A checker that cannot fail is a defect: a bad command line is caught.
  assert.notDeepEqual(checkTurbineArgs(["serve", "--no-such-flag"]), []);
  assert.notDeepEqual(checkTurbineArgs(["serve", "--engine", "tensorflow"]), []);
});
