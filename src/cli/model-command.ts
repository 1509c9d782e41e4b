// `turbine model random`: writes a llama-architecture GGUF with random weights. Also the
// default model of `turbine serve`, generated once into the data folder.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import { GGUF_PRESET_NAMES, writeRandomLlamaGguf } from "../model/index.ts";
import type { GgufPresetName } from "../model/index.ts";
import { nonNegativeInt } from "./options.ts";

/** Where Turbine keeps generated files: $TURBINE_DATA_DIR, else ~/.cache/turbine. */
export function dataDir(): string {
  return process.env["TURBINE_DATA_DIR"] ?? join(homedir(), ".cache", "turbine");
}

export const DEFAULT_MODEL_PRESET: GgufPresetName = "small";
export const DEFAULT_MODEL_SEED = 0;

/** The default model's file: written on first use (to a temp name, then renamed: atomic). */
export async function ensureDefaultGguf(): Promise<string> {
  const dir = join(dataDir(), "models");
  const file = join(dir, `turbine-random-${DEFAULT_MODEL_PRESET}.gguf`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeRandomLlamaGguf(tmp, { preset: DEFAULT_MODEL_PRESET, seed: DEFAULT_MODEL_SEED, name: "turbine-random-small" });
  renameSync(tmp, file);
  return file;
}

interface RandomFlags {
  out: string;
  preset: GgufPresetName;
  seed: number;
  f16?: boolean;
}

export function modelCommand(): Command {
  const random = new Command("random")
    .description("write a llama-architecture GGUF model with random weights (for tests and demos)")
    .requiredOption("--out <file>", "GGUF file to write")
    .addOption(new Option("--preset <name>", "model size").choices(GGUF_PRESET_NAMES).default("tiny"))
    .option("--seed <n>", "seed of the weights", nonNegativeInt, 0)
    .option("--f16", "store weights as F16 (default F32)")
    .action(async (flags: RandomFlags) => {
      const t0 = performance.now();
      const info = await writeRandomLlamaGguf(flags.out, { preset: flags.preset, seed: flags.seed, f16: flags.f16 === true });
      const ms = Math.round(performance.now() - t0);
      process.stdout.write(
        `wrote ${info.path}: ${(info.numParameters / 1e6).toFixed(1)}M parameters, ${(info.bytes / 1e6).toFixed(1)} MB, ` +
          `vocabulary ${info.shape.vocabSize}, ${info.shape.blockCount} layers, in ${ms} ms\n`,
      );
    });
  return new Command("model").description("model files").addCommand(random);
}
