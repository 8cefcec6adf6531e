/** `deno task bench` / `bun run bench`: see `--help`. */
import { benchCommand } from "../src/cli/bench_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("bench", () => benchCommand(scriptArgs()));
