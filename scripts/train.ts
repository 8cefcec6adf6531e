/** `deno task train` / `bun run train`: see `--help`. */
import { runCommand } from "../src/cli/run_command.ts";
import { trainCommand } from "../src/cli/train_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("train", () => trainCommand(scriptArgs()));
