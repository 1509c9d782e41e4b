// Checks a `turbine` command line written in a deployment file (Dockerfile CMD, Kubernetes
// args) against the real CLI: the sub-command exists, every flag is one it declares, and a
// value of a flag with choices is one of them. Reads the commander program, not help text.
import type { Command, Option } from "commander";
import { buildProgram } from "../../src/cli/index.ts";

/** The sub-commands the CLI has (their names). */
export function subcommandNames(): string[] {
  return buildProgram().commands.map((c) => c.name());
}

/** Problems with `argv` (the arguments after `turbine`); empty when the CLI accepts it. */
export function checkTurbineArgs(argv: readonly string[]): string[] {
  const [name, ...rest] = argv;
  const cmd: Command | undefined = buildProgram().commands.find((c) => c.name() === name);
  if (!cmd) return [`turbine has no sub-command '${name ?? ""}'`];
  const problems: string[] = [];
  const byLong = new Map<string, Option>();
  for (const o of cmd.options) if (o.long) byLong.set(o.long, o);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith("--")) {
      problems.push(`turbine ${name}: unexpected argument '${arg}'`);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const option = byLong.get(flag) ?? (flag.startsWith("--no-") ? byLong.get(`--${flag.slice(5)}`) : undefined);
    if (!option) {
      problems.push(`turbine ${name}: unknown flag ${flag}`);
      continue;
    }
    if (!option.required && !option.optional) continue; // a boolean flag
    const values: string[] = [];
    if (eq > 0) values.push(arg.slice(eq + 1));
    else if (option.variadic) while (rest[i + 1] !== undefined && !rest[i + 1]!.startsWith("--")) values.push(rest[++i]!);
    else if (rest[i + 1] !== undefined && !rest[i + 1]!.startsWith("--")) values.push(rest[++i]!);
    if (values.length === 0 && option.required) problems.push(`turbine ${name}: ${flag} needs a value`);
    for (const v of values) {
      if (option.argChoices && !option.argChoices.includes(v)) problems.push(`turbine ${name}: ${flag} ${v} is not one of ${option.argChoices.join(", ")}`);
      // Kubernetes substitutes $(VAR) at start-up: only literal values can be parsed here.
      if (option.parseArg && !v.includes("$(")) {
        try {
          option.parseArg(v, undefined);
        } catch (err) {
          problems.push(`turbine ${name}: ${flag} ${v}: ${(err as Error).message}`);
        }
      }
    }
  }
  return problems;
}
