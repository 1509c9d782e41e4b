// `turbine profile`: measures one worker (prefill time against prompt length, decode step time
// against batch size and context) and writes the profile JSON the SLA planner reads.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { prepareEngines } from "./engine-factory.ts";
import { addEngineOptions, engineSpecFromFlags } from "./engine-options.ts";
import type { EngineFlags } from "./engine-options.ts";
import { DEFAULT_PROFILE_GRID, profileEngine, profileMocker } from "./worker-profiler.ts";
import { positiveInt } from "./options.ts";

interface ProfileFlags extends EngineFlags {
  prefillTokens: number[];
  batchSizes: number[];
  contextTokens: number[];
  decodeTokens: number;
  output: string;
}

function intList(value: string): number[] {
  const xs = value.split(",").map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 1)) throw new InvalidArgumentError("must be positive integers separated by commas");
  return xs.sort((a, b) => a - b);
}

export function profileCommand(): Command {
  const cmd = new Command("profile")
    .description("measure one worker's prefill and decode times and write the profile the SLA planner reads")
    .option("--prefill-tokens <list>", "prompt lengths to time", intList, DEFAULT_PROFILE_GRID.prefillTokens)
    .option("--batch-sizes <list>", "decode batch sizes to time", intList, DEFAULT_PROFILE_GRID.batchSizes)
    .option("--context-tokens <list>", "decode context lengths to time", intList, DEFAULT_PROFILE_GRID.contextTokens)
    .option("--decode-tokens <n>", "tokens generated per request when timing decode", positiveInt, 16)
    .option("--output <file>", "where the profile JSON goes", "profile.json");
  addEngineOptions(cmd);
  return cmd.action(async (flags: ProfileFlags) => {
    const spec = engineSpecFromFlags(flags);
    const grid = { prefillTokens: flags.prefillTokens, batchSizes: flags.batchSizes, contextTokens: flags.contextTokens };
    const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"})`;
    let profile;
    if (spec.engine === "mocker") {
      const m = spec.mocker ?? {};
      profile = profileMocker({ blockSize: m.kvBlockSize, numKvBlocks: m.numKvBlocks, maxNumSeqs: m.maxNumSeqs, maxNumBatchedTokens: m.maxNumBatchedTokens }, grid);
    } else {
      const factory = await prepareEngines(spec);
      const engine = await factory.create(0);
      try {
        profile = await profileEngine(engine, { engineName: spec.engine, grid, decodeTokens: flags.decodeTokens, machine });
      } finally {
        await engine.close();
      }
    }
    writeFileSync(flags.output, `${JSON.stringify(profile, null, 2)}\n`);
    process.stdout.write(`Profile of one ${spec.engine} worker written to ${flags.output} (${profile.prefill.tokens.length} prefill points, ${profile.decode.batchSizes.length}×${profile.decode.contextTokens.length} decode points)\n`);
  });
}
