/** `deno task sweep` / `bun run sweep`: see `--help`. */
import { runCommand } from "../src/cli/run_command.ts";
import { sweepCommand } from "../src/cli/sweep_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("sweep", () => sweepCommand(scriptArgs()));
