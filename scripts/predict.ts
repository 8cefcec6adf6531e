/** `deno task predict` / `bun run predict`: see `--help`. */
import { predictCommand } from "../src/cli/predict_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("predict", () => predictCommand(scriptArgs()));
