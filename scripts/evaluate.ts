/** `deno task evaluate` / `bun run evaluate`: see `--help`. */
import { evaluateCommand } from "../src/cli/evaluate_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("evaluate", () => evaluateCommand(scriptArgs()));
