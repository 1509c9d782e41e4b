// The planner's flags, shared by `turbine planner` (distributed) and `turbine serve --planner`
// (embedded), and the planner they build.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { LoadPlanner, POOL_NAMES, PREDICTOR_NAMES, SlaPlanner, parseWorkerProfile } from "../planner/index.ts";
import type { Planner, PoolBounds, PoolName, PredictorName, WorkerProfile } from "../planner/index.ts";
import { TurbineError } from "../protocols/index.ts";
import { nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

export interface PlannerFlags {
  planner?: "load" | "sla";
  predictor: PredictorName;
  adjustmentInterval: number;
  ttftTarget: number;
  itlTarget: number;
  profile?: string;
  prefillProfile?: string;
  decodeProfile?: string;
  minWorkers: Partial<Record<PoolName, number>>;
  maxWorkers: Partial<Record<PoolName, number>>;
  maxGpus?: number;
  scaleToZeroAfter?: number;
  plannerCooldown: number;
}

/** "3" (every pool) or "prefill=1,decode=2". */
export function perPool(value: string): Partial<Record<PoolName, number>> {
  const out: Partial<Record<PoolName, number>> = {};
  const n = Number(value);
  if (/^\d+$/.test(value)) {
    for (const p of POOL_NAMES) out[p] = n;
    return out;
  }
  for (const part of value.split(",")) {
    const [pool, count] = part.split("=");
    if (!POOL_NAMES.includes(pool as PoolName) || !/^\d+$/.test(count ?? "")) throw new InvalidArgumentError(`use N or pool=N,… with pools ${POOL_NAMES.join(", ")}`);
    out[pool as PoolName] = Number(count);
  }
  return out;
}

/** Adds the planner's flags; `choosePlanner`: `--planner` has no default (serve: off unless given). */
export function addPlannerOptions(cmd: Command, options: { defaultPlanner?: "load" | "sla" } = {}): Command {
  const kind = new Option("--planner <kind>", "autoscaling: load (scale by observed pressure) or sla (forecast, then size from worker profiles to meet the targets)").choices(["load", "sla"]);
  if (options.defaultPlanner !== undefined) kind.default(options.defaultPlanner);
  return cmd
    .addOption(kind)
    .addOption(new Option("--predictor <name>", "sla planner: forecaster of the next interval's load").choices(PREDICTOR_NAMES).default("constant"))
    .option("--adjustment-interval <s>", "planner: seconds between decisions", positiveNumber, 30)
    .option("--ttft-target <ms>", "planner: time-to-first-token target", positiveNumber, 2000)
    .option("--itl-target <ms>", "planner: inter-token latency target", positiveNumber, 50)
    .option("--profile <file>", "sla planner: profile JSON of an aggregated worker (from `turbine profile`)")
    .option("--prefill-profile <file>", "sla planner: profile JSON of a prefill worker")
    .option("--decode-profile <file>", "sla planner: profile JSON of a decode worker")
    .option("--min-workers <n>", "planner: fewest workers per pool, N or pool=N,… (0 allows scale to zero)", perPool, {})
    .option("--max-workers <n>", "planner: most workers per pool, N or pool=N,…", perPool, {})
    .option("--max-gpus <n>", "planner: GPU budget of all pools together (one per worker)", positiveInt)
    .option("--scale-to-zero-after <s>", "planner: a pool whose --min-workers is 0 drains its last worker after this many idle seconds", nonNegativeNumber)
    .option("--planner-cooldown <s>", "load planner: seconds a pool is left alone after a change", nonNegativeNumber, 60);
}

function readProfile(path: string): WorkerProfile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new TurbineError("REQUEST_INVALID", `cannot read profile ${path}: ${(err as Error).message}`, { cause: err, param: "profile" });
  }
  return parseWorkerProfile(JSON.parse(text));
}

export function plannerFromFlags(flags: PlannerFlags, pools: readonly PoolName[]): Planner {
  const bounds: PoolBounds = {
    minWorkers: flags.minWorkers,
    maxWorkers: flags.maxWorkers,
    ...(flags.maxGpus !== undefined ? { maxTotalGpus: flags.maxGpus } : {}),
    ...(flags.scaleToZeroAfter !== undefined ? { scaleToZeroAfterMs: flags.scaleToZeroAfter * 1000 } : {}),
  };
  const intervalMs = flags.adjustmentInterval * 1000;
  if ((flags.planner ?? "load") === "load") {
    return new LoadPlanner({ ...bounds, ttftTargetMs: flags.ttftTarget, itlTargetMs: flags.itlTarget, cooldownMs: flags.plannerCooldown * 1000 });
  }
  const profiles: Partial<Record<PoolName, WorkerProfile>> = {};
  if (flags.profile !== undefined) profiles.aggregated = readProfile(flags.profile);
  if (flags.prefillProfile !== undefined) profiles.prefill = readProfile(flags.prefillProfile);
  if (flags.decodeProfile !== undefined) profiles.decode = readProfile(flags.decodeProfile);
  for (const p of pools) if (profiles[p] === undefined) throw new TurbineError("REQUEST_INVALID", `--planner sla needs a profile of the ${p} workers (--${p === "aggregated" ? "" : `${p}-`}profile; see turbine profile)`, { param: "profile" });
  return new SlaPlanner({ ...bounds, ttftTargetMs: flags.ttftTarget, itlTargetMs: flags.itlTarget, profiles, predictor: flags.predictor, predictorOptions: { seasonLength: Math.max(2, Math.round(86_400_000 / intervalMs)) } });
}

/** How long a request waits for a worker: the explicit flag, or 60 s when a pool can scale to zero. */
export function coldStartWaitFromFlags(flags: PlannerFlags & { coldStartWaitMs?: number }): number {
  if (flags.coldStartWaitMs !== undefined && flags.coldStartWaitMs > 0) return flags.coldStartWaitMs;
  return flags.planner !== undefined && flags.scaleToZeroAfter !== undefined ? 60_000 : (flags.coldStartWaitMs ?? 0);
}
