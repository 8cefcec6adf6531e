/** `deno task worker` / `bun run worker`: see `--help`. */
import { workerCommand } from "../src/cli/worker_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("worker", () => workerCommand(scriptArgs()));
