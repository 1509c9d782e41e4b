#!/usr/bin/env node
// The `turbine` command. Sources are TypeScript; tsx loads them without a build step,
// so a fresh clone runs after `npm ci`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/index.ts");
await main(process.argv);
