import { hostname } from "node:os";
import { UsageError } from "../errors.ts";
import { ClusterWorker } from "../engines/cluster/cluster_worker.ts";
import { redactUrl } from "../engines/cluster/connection.ts";
import process from "node:process";
import {
  environmentVariable,
  logicalCpus,
  onTerminationSignal,
  runtimeName,
  writeStderr,
} from "../runtime/process.ts";
import { type FlagSpec, helpText, parseFlags } from "./flags.ts";

/** The worker command's flags. */
export const WORKER_FLAGS: readonly FlagSpec[] = [
  {
    name: "cluster",
    value: "URL",
    type: "string",
    help: "the NATS server(s): nats://host:port, comma-separated; nats://user:pass@… or " +
      "nats://token@… for credentials",
  },
  {
    name: "threads",
    value: "T",
    type: "integer",
    min: 1,
    help: "worker threads computing in this process",
    defaultText: `logical CPUs (${logicalCpus()})`,
  },
  {
    name: "name",
    value: "NAME",
    type: "string",
    help: "this worker's name in the coordinator's log",
    defaultText: "the host name",
  },
  {
    name: "cluster-ca",
    value: "FILE",
    type: "string",
    help: "a PEM file of the certificate authority of the servers' TLS certificates",
  },
];

const SUMMARY =
  "A long-lived worker process of a training cluster: joins the NATS cluster, serves the steps of " +
  "one training run after another, and leaves cleanly on Ctrl-C or SIGTERM (exit 130 / 143).";

/**
 * `worker`: serves training runs until a signal ends it.
 *
 * @example
 * ```ts
 * await workerCommand(["--cluster", "nats://127.0.0.1:4222", "--threads", "2"]);
 * ```
 */
export async function workerCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, WORKER_FLAGS);
  if (f.help) {
    console.log(
      helpText(
        "deno task worker --cluster URL [flags]   (or: bun run worker --cluster URL [flags])",
        SUMMARY,
        WORKER_FLAGS,
      ),
    );
    return 0;
  }
  if (f.cluster === undefined) throw new UsageError("--cluster: the NATS URL is required");
  const url = String(f.cluster);
  const name = String(f.name ?? hostname());
  const log = (line: string) => writeStderr(`worker ${name}: ${line}\n`);
  let stopping: ((code: number) => void) | null = null;
  const stopped = new Promise<number>((resolve) => stopping = resolve);
  onTerminationSignal((code) => stopping?.(code));
  // Started by `cluster`: leave when it ends, however it ends (its end closes our stdin).
  if (environmentVariable("SHARDNET_EXIT_WITH_STDIN") === "1") {
    process.stdin.on("close", () => stopping?.(0));
    process.stdin.on("end", () => stopping?.(0));
    process.stdin.resume();
  }
  const worker = await ClusterWorker.start({
    url,
    threads: Number(f.threads ?? logicalCpus()),
    name,
    runtime: runtimeName(),
    ...(f["cluster-ca"] !== undefined ? { caFile: String(f["cluster-ca"]) } : {}),
    onLog: log,
  });
  log(`connected to ${redactUrl(url)}`);
  const code = await stopped;
  await worker.stop();
  log("left the cluster");
  return code;
}
