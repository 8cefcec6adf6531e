/**
 * Hosts on one machine for the cluster's tests: network namespaces joined by a bridge over links
 * capped with tc's tbf (`scripts/cluster_hosts.sh`), programs started inside them with
 * `ip netns exec`, addressing each other as 10.213.0.i — never loopback. Every namespace, link and
 * process goes on every exit path: `stop()`, this process's exit or SIGINT/SIGTERM, and, should it
 * be killed outright, a watchdog that tears down when our end of its pipe closes; whatever a run
 * that died anyway left behind is removed by the stale step the next run begins with.
 *
 * @example
 * ```ts
 * await using hosts = await createHosts(5, "1gbit");
 * const nats = await hosts.startNats(1);
 * const w = hosts.startCli(3, "worker", ["--cluster", nats.url]);
 * ```
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { findNatsServer } from "../../src/engines/cluster/nats_server.ts";
import { currentRuntime, type RuntimeKind } from "../../src/runtime/runtimes.ts";
import { commandLine, type RunningCli, watchCli } from "../run_cli.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = join(ROOT, "scripts/cluster_hosts.sh");
/** The port nats-server listens on inside its host: fixed, so that a restarted server is found. */
export const NATS_PORT = 4222;

function skipReason(): string | false {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces need root";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
    accessSync("/usr/sbin/tc", constants.X_OK);
  } catch {
    return "`ip netns` or `tc` is not available (iproute2)";
  }
  try {
    findNatsServer();
  } catch (e) {
    return (e as Error).message;
  }
  return false;
}

/** False when hosts can be built here, else why the tests that need them skip. */
export const hostsSkip: string | false = skipReason();
if (hostsSkip) console.warn(`cluster hosts tests: skipping: ${hostsSkip}`);

/** A nats-server in one host, with its JetStream store in a directory that survives a restart. */
export interface HostNats {
  /** `nats://10.213.0.i:4222`. */
  readonly url: string;
  readonly dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s), keeping its store. */
  stop(): Promise<void>;
  /** Starts it again on the same address and store, resolving once it is ready. */
  start(): Promise<void>;
}

export interface Hosts extends AsyncDisposable {
  /** The run's id: sn-ID-i are the hosts' namespaces. */
  readonly id: string;
  /** A scratch directory for the caller's files, removed with the hosts on every exit path. */
  readonly dir: string;
  /** Host i's namespace (1-based). */
  namespace(i: number): string;
  /** Host i's address. */
  address(i: number): string;
  /** Starts nats-server with JetStream in host i. */
  startNats(i: number): Promise<HostNats>;
  /** Runs `scripts/<name>.ts` in host i on `runtime`, like run_cli's startCli. */
  startCli(
    i: number,
    name: "train" | "worker",
    args: readonly string[],
    runtime?: RuntimeKind,
    timeoutMs?: number,
  ): RunningCli;
  /** SIGKILLs every process in host i at once, as when the machine loses power. */
  killHost(i: number): void;
  /** Cuts (false) or restores (true) host i's link, at the switch's end. */
  setLink(i: number, up: boolean): void;
  /** Kills every process in the hosts and deletes them; idempotent. */
  stop(): Promise<void>;
}

let sets = 0;

function sh(...args: string[]): string {
  return execFileSync("bash", [SCRIPT, ...args], { encoding: "utf8", stdio: "pipe" });
}

/** Builds `n` hosts whose links carry at most `rate` (tc's syntax: "1gbit") each way. */
export function createHosts(n: number, rate: string): Promise<Hosts> {
  const id = `${process.pid}_${++sets}`;
  sh("stale");
  const dir = mkdtempSync(join(tmpdir(), "shardnet-hosts-"));
  // Started before the hosts exist, so that there is no moment when they could outlive us.
  const watchdog: ChildProcess = spawn("bash", [SCRIPT, "watch", id, dir], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const children: ChildProcess[] = [];
  let stopped = false;
  const teardownNow = () => {
    if (stopped) return;
    stopped = true;
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    try {
      sh("down", id);
    } catch {
      // the watchdog retries when its pipe closes
    }
    watchdog.stdin?.end();
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", teardownNow);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    teardownNow();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("exit", teardownNow);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    sh("up", id, String(n), rate);
  } catch (e) {
    teardownNow();
    throw new Error(`cluster_hosts.sh up failed: ${(e as { stderr?: string }).stderr ?? e}`);
  }
  const namespace = (i: number) => `sn-${id}-${i}`;
  const address = (i: number) => `10.213.0.${i}`;

  const startIn = (
    i: number,
    argv: readonly string[],
    timeoutMs: number,
  ): RunningCli => {
    const child = spawn("ip", ["netns", "exec", namespace(i), ...argv], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return watchCli(child, timeoutMs);
  };

  const startNats = async (i: number): Promise<HostNats> => {
    const store = join(dir, `nats-${i}`);
    const log = join(store, "server.log");
    const config = join(dir, `nats-${i}.conf`);
    mkdirSync(store, { recursive: true });
    writeFileSync(
      config,
      JSON.stringify({
        host: address(i),
        port: NATS_PORT,
        log_file: log,
        max_payload: 64 * 2 ** 20,
        jetstream: { store_dir: join(store, "jetstream") },
      }),
    );
    let server: RunningCli | undefined;
    const start = async () => {
      const before = readLog(log).length;
      server = startIn(i, [findNatsServer(), "-c", config], 3_600_000);
      const deadline = Date.now() + 30_000;
      while (!readLog(log).slice(before).includes("Server is ready")) {
        if (server.child.exitCode !== null || Date.now() > deadline) {
          throw new Error(
            `nats-server did not start in ${namespace(i)}: ${server.stderr()}${
              readLog(log).slice(-500)
            }`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const stop = async () => {
      const s = server;
      if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
      s.child.kill("SIGTERM");
      const timer = setTimeout(() => s.child.kill("SIGKILL"), 5_000);
      await s.done;
      clearTimeout(timer);
    };
    await start();
    return { url: `nats://${address(i)}:${NATS_PORT}`, dir: store, stop, start };
  };

  const stop = () => {
    teardownNow();
    return Promise.resolve();
  };
  return Promise.resolve({
    id,
    dir,
    namespace,
    address,
    startNats,
    startCli: (i, name, args, runtime = currentRuntime(), timeoutMs = 300_000) =>
      startIn(i, commandLine(runtime, `scripts/${name}.ts`, args), timeoutMs),
    killHost: (i) => {
      const pids = execFileSync("ip", ["netns", "pids", namespace(i)], { encoding: "utf8" })
        .split("\n").filter((p) => p !== "");
      if (pids.length > 0) execFileSync("kill", ["-9", ...pids]);
    },
    setLink: (i, up) => void sh("link", id, String(i), up ? "up" : "down"),
    stop,
    [Symbol.asyncDispose]: stop,
  });
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
