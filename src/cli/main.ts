// The `turbine` command: one sub-command per process role or tool.
import { Command } from "commander";
import { TurbineError } from "../protocols/index.ts";
import { serveCommand } from "./serve-command.ts";
import { benchCommand } from "./bench-command.ts";
import { replayCommand } from "./replay-command.ts";
import { modelCommand } from "./model-command.ts";
import { frontendCommand } from "./frontend-command.ts";
import { workerCommand } from "./worker-command.ts";
import { beforeExit } from "./shutdown.ts";
import { startTracing } from "./tracing.ts";
import { plannerCommand } from "./planner-command.ts";
import { profileCommand } from "./profile-command.ts";

export function buildProgram(): Command {
  return new Command("turbine")
    .description("Distributed LLM inference serving: OpenAI API, KV-aware routing, disaggregated serving")
    .version("0.1.0")
    .addCommand(serveCommand())
    .addCommand(frontendCommand())
    .addCommand(workerCommand())
    .addCommand(benchCommand())
    .addCommand(replayCommand())
    .addCommand(modelCommand())
    .addCommand(plannerCommand())
    .addCommand(profileCommand());
}

/** Process roles that serve, and so may export traces (the OTEL_* variables decide). */
const TRACED_ROLES = new Set(["serve", "frontend", "worker", "planner"]);

export async function main(argv: string[]): Promise<void> {
  const role = argv[2] ?? "";
  if (TRACED_ROLES.has(role)) {
    const tracing = await startTracing(`turbine-${role}`);
    if (tracing) beforeExit(() => tracing.shutdown());
  }
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const message = err instanceof TurbineError ? `${err.code}: ${err.message}` : String((err as Error)?.stack ?? err);
    process.stderr.write(`turbine: ${message}\n`);
    process.exit(1);
  }
}
