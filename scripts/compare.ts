/** `deno task compare` / `bun run compare`: see `--help`. */
import { compareCommand } from "../src/cli/compare_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("compare", () => compareCommand(scriptArgs()));
