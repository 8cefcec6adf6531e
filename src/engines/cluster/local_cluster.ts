import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { environmentCopy } from "../../runtime/process.ts";
import { findRuntime, runtimeCommandLine, type RuntimeKind } from "../../runtime/runtimes.ts";
import { ClusterError } from "./cluster_error.ts";
import { startNatsServer } from "./nats_server.ts";

/** How a cluster on this machine is made. */
export interface LocalClusterOptions {
  readonly processes: number;
  readonly threads: number;
  /** Runtimes of the worker processes, taken in turn. */
  readonly runtimes: readonly RuntimeKind[];
  /** The nats-server executable; found on PATH or in /usr/sbin by default. */
  readonly natsServer?: string;
  /** Where the workers' log lines go: this process's standard error, or nowhere. */
  readonly workerLogs: "inherit" | "ignore";
}

/** A running local cluster: its URL, and `stop()`, which ends everything it started. */
export interface LocalCluster extends AsyncDisposable {
  readonly url: string;
  /** Process ids of the worker processes, in the order started (0 where the start failed). */
  readonly workerPids: readonly number[];
  stop(): Promise<void>;
}

/** The largest message the local server accepts: block sums of a large model in float64. */
const MAX_PAYLOAD = 64 * 2 ** 20;
/** How long worker processes get to leave before they are killed. */
const STOP_GRACE_MS = 5_000;

const WORKER_SCRIPT = fileURLToPath(new URL("../../../scripts/worker.ts", import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * Starts nats-server with JetStream on a free loopback port and a temporary store, and worker
 * processes of `scripts/worker.ts`. Each worker's standard input is a pipe that ends when this
 * process ends, however it ends; the worker then leaves (SHARDNET_EXIT_WITH_STDIN), and the
 * server has its own watchdog, so nothing outlives this process.
 *
 * @example
 * ```ts
 * await using cluster = await startLocalCluster({ processes: 2, threads: 1, runtimes: ["deno"], workerLogs: "ignore" });
 * await train(data, { epochs: 10, cluster: { url: cluster.url, minWorkers: 2 } });
 * ```
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const server = await startNatsServer({
    ...(options.natsServer !== undefined ? { binary: options.natsServer } : {}),
    maxPayload: MAX_PAYLOAD,
  });
  const workers: ChildProcess[] = [];
  const stop = async () => {
    await stopAll(workers);
    await server.stop();
  };
  try {
    for (let i = 0; i < options.processes; i++) {
      const kind = options.runtimes[i % options.runtimes.length];
      const runtime = findRuntime(kind, PROJECT_ROOT);
      if (runtime === null) throw new ClusterError(`${kind} is not installed`);
      const [command, ...argv] = runtimeCommandLine(kind, runtime, WORKER_SCRIPT, [
        "--cluster",
        server.url,
        "--threads",
        String(options.threads),
        "--name",
        `local-${i}-${kind}`,
      ]);
      workers.push(spawn(command, argv, {
        stdio: ["pipe", options.workerLogs, options.workerLogs],
        env: { ...environmentCopy(), SHARDNET_EXIT_WITH_STDIN: "1" },
      }));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: server.url,
    workerPids: workers.map((w) => w.pid ?? 0),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Asks every worker process to leave, then kills those still there after the grace period. */
async function stopAll(workers: readonly ChildProcess[]): Promise<void> {
  const running = workers.filter((w) => w.exitCode === null && w.signalCode === null);
  const exited = running.map((w) =>
    new Promise<void>((resolve) => w.once("exit", () => resolve()))
  );
  for (const w of running) w.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(exited),
    new Promise((resolve) => timer = setTimeout(resolve, STOP_GRACE_MS)),
  ]);
  clearTimeout(timer);
  for (const w of running) {
    if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
  }
  await Promise.all(exited.map((e) => Promise.race([e, new Promise((r) => setTimeout(r, 1000))])));
}
