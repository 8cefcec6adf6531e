import { UsageError } from "../errors.ts";
import { startLocalCluster } from "../engines/cluster/local_cluster.ts";
import { currentRuntime, RUNTIME_KINDS, type RuntimeKind } from "../runtime/runtimes.ts";
import { type FlagSpec, helpText, parseFlags } from "./flags.ts";
import { TRAIN_FLAGS, trainCommand } from "./train_command.ts";

/** The cluster command's own flags; every other flag is the train command's. */
export const CLUSTER_FLAGS: readonly FlagSpec[] = [
  {
    name: "processes",
    value: "N",
    type: "integer",
    min: 1,
    max: 64,
    help: "worker processes to start on this machine",
  },
  {
    name: "threads",
    value: "T",
    type: "integer",
    min: 1,
    help: "worker threads in each worker process",
    default: 1,
  },
  {
    name: "runtime",
    alias: "runtimes",
    value: "RUNTIMES",
    type: "string",
    help: "runtimes of the worker processes, comma-separated, taken in turn (deno, bun)",
    defaultText: "this command's runtime",
  },
  {
    name: "nats-server",
    value: "PATH",
    type: "string",
    help: "the nats-server executable (any NATS ≥ 2.9 with JetStream)",
    defaultText: "nats-server on PATH or in /usr/sbin",
  },
];

/** Train flags that the cluster command sets itself. */
const OWN_TRAIN_FLAGS = ["cluster", "min-workers", "workers"];

const SUMMARY =
  "A whole training cluster on this machine, for trying the cluster engine: starts nats-server " +
  "with JetStream on a free loopback port and a temporary store, starts N worker processes, " +
  "trains with every other flag as `train --cluster` does, and stops them all on success, error " +
  "or signal.";

/**
 * `cluster`: one training run on a private local cluster.
 *
 * @example
 * ```ts
 * await clusterCommand(["--processes", "2", "--data", "data/breast_cancer.csv", "--epochs", "50"]);
 * ```
 */
export async function clusterCommand(args: readonly string[]): Promise<number> {
  const { own, rest } = splitArgs(args);
  const f = parseFlags(own, CLUSTER_FLAGS);
  if (f.help || rest.includes("--help") || rest.includes("-h")) {
    console.log(
      helpText(
        "deno task cluster --processes N [flags] [train flags]   " +
          "(or: bun run cluster --processes N …)",
        SUMMARY,
        [...CLUSTER_FLAGS, ...TRAIN_FLAGS.filter((s) => !OWN_TRAIN_FLAGS.includes(s.name))],
      ),
    );
    return 0;
  }
  if (f.processes === undefined) throw new UsageError("--processes: how many worker processes?");
  for (const flag of OWN_TRAIN_FLAGS) {
    if (rest.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`))) {
      throw new UsageError(`--${flag}: set by the cluster command itself (see --processes)`);
    }
  }
  const cluster = await startLocalCluster({
    processes: f.processes as number,
    threads: f.threads as number,
    runtimes: runtimeList(f.runtime as string | undefined),
    ...(f["nats-server"] !== undefined ? { natsServer: f["nats-server"] as string } : {}),
    workerLogs: "inherit",
  });
  try {
    return await trainCommand([
      ...rest,
      "--cluster",
      cluster.url,
      "--min-workers",
      String(f.processes),
    ]);
  } finally {
    await cluster.stop();
  }
}

/** Separates the cluster command's own flags (with their values) from the train flags. */
function splitArgs(args: readonly string[]): { own: string[]; rest: string[] } {
  const names = new Set(
    CLUSTER_FLAGS.flatMap((s) => [`--${s.name}`, ...(s.alias ? [`--${s.alias}`] : [])]),
  );
  const own: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].split("=")[0];
    if (!names.has(name)) {
      rest.push(args[i]);
      continue;
    }
    own.push(args[i]);
    if (!args[i].includes("=") && i + 1 < args.length) own.push(args[++i]);
  }
  return { own, rest };
}

function runtimeList(text: string | undefined): RuntimeKind[] {
  if (text === undefined) return [currentRuntime()];
  const list = text.split(",").map((s) => s.trim());
  for (const kind of list) {
    if (!RUNTIME_KINDS.includes(kind as RuntimeKind)) {
      throw new UsageError(`--runtime: expected deno and/or bun, comma-separated, got "${kind}"`);
    }
  }
  return list as RuntimeKind[];
}
