/** `deno task sweep-bench` / `bun run sweep-bench`: see `--help`. */
import { runCommand } from "../src/cli/run_command.ts";
import { sweepBenchCommand } from "../src/cli/sweep_bench_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("sweep-bench", () => sweepBenchCommand(scriptArgs()));
