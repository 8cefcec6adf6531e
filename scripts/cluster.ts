/** `deno task cluster` / `bun run cluster`: see `--help`. */
import { clusterCommand } from "../src/cli/cluster_command.ts";
import { runCommand } from "../src/cli/run_command.ts";
import { scriptArgs } from "../src/runtime/process.ts";

await runCommand("cluster", () => clusterCommand(scriptArgs()));
