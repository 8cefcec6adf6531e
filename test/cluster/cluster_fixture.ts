/**
 * The setup of the tests that run a cluster of processes: a nats-server and a temp dir for the
 * file, and the processes its tests start, killed after each test however it ended.
 */
import { after, afterEach, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { tmpdir } from "node:os";
import { type NatsServer, startNatsServer } from "../../src/engines/cluster/nats_server.ts";
import type { RuntimeKind } from "../../src/runtime/runtimes.ts";
import { runCli, type RunningCli, startCli } from "../run_cli.ts";
import { eventually, natsSkip } from "./nats_fixture.ts";

/** A test file's server, temp dir and processes, and what its tests do with them. */
export interface ClusterFixture {
  /** The server's URL; read it in a test (the server starts in the file's `before`). */
  readonly url: string;
  /** The file's temp dir, removed after its last test; read it in a test, as `url`. */
  readonly dir: string;
  /** What a test started: each still running is SIGKILLed when the test ends. */
  readonly running: RunningCli[];
  /**
   * Starts a worker process of `threads` threads (default 1) on `runtime`, connected to `url`
   * (default the server's); unless `wait` is false, waits until it has joined the cluster.
   */
  startWorker(
    runtime: RuntimeKind,
    name: string,
    options?: { readonly threads?: number; readonly wait?: boolean; readonly url?: string },
  ): Promise<RunningCli>;
  /** Stops a worker as a person would (SIGTERM), checks its exit status; what it logged. */
  stopWorker(w: RunningCli): Promise<string>;
  /** The --out of training `args` on one thread (`--workers 0`). */
  reference(args: readonly string[], name: string, timeoutMs?: number): Promise<string>;
  /** The flags that train on this cluster once `min` workers have joined, then `extra`. */
  clusterArgs(min: number, extra?: readonly string[]): string[];
}

/**
 * Registers the file's hooks: a nats-server and a temp dir named `prefix…` before its tests (none
 * when nats-server is missing, see `natsSkip`), every process a test started killed after it, and
 * the server stopped and the dir removed after the last. Call it once, at the top of a test file.
 *
 * @example
 * ```ts
 * const cluster = clusterFixture("shardnet-cluster-test-");
 * it("trains on one worker", { skip: natsSkip }, async () => {
 *   const w = await cluster.startWorker(currentRuntime(), "w1");
 *   const r = await runCli("train", [...args, ...cluster.clusterArgs(1)]);
 *   await cluster.stopWorker(w);
 * });
 * ```
 */
export function clusterFixture(prefix: string): ClusterFixture {
  let server: NatsServer | undefined;
  let dir = "";
  const running: RunningCli[] = [];

  before(async () => {
    if (natsSkip) return;
    server = await startNatsServer({ maxPayload: 64 * 2 ** 20 });
    dir = mkdtempSync(join(tmpdir(), prefix));
  });

  // Whatever a test started goes with it, even when it failed half-way: the next test must find no
  // worker but its own.
  afterEach(() => {
    for (const r of running.splice(0)) if (alive(r)) r.child.kill("SIGKILL");
  });

  after(async () => {
    for (const r of running) if (alive(r)) r.child.kill("SIGKILL");
    try {
      await server?.stop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  return {
    get url() {
      return server!.url;
    },
    get dir() {
      return dir;
    },
    running,
    async startWorker(runtime, name, { threads = 1, wait = true, url = server!.url } = {}) {
      const w = startCli(
        "worker",
        ["--cluster", url, "--threads", String(threads), "--name", name],
        {},
        600_000,
        runtime,
      );
      running.push(w);
      if (wait) {
        const joined = await eventually(() => w.stderr().includes("joined the cluster"), 60_000);
        assert.ok(joined, `worker ${name} did not join: ${w.stderr()}`);
      }
      return w;
    },
    async stopWorker(w) {
      // process.kill, not child.kill: Deno's child.kill reports the signal, not the exit status.
      process.kill(w.child.pid!, "SIGTERM");
      const r = await w.done;
      assert.equal(r.code, 143, `worker exit: ${r.code} ${r.signal}\n${r.stderr}`);
      return r.stderr;
    },
    async reference(args, name, timeoutMs = 120_000) {
      const out = join(dir, `${name}-reference.json`);
      const r = await runCli("train", [...args, "--workers", "0", "--out", out], {}, timeoutMs);
      assert.equal(r.code, 0, r.stderr);
      return readFileSync(out, "utf8");
    },
    clusterArgs(min, extra = []) {
      return ["--cluster", server!.url, "--min-workers", String(min), ...extra];
    },
  };
}

/** Whether a command started by a test is still running. */
export function alive(r: RunningCli): boolean {
  return r.child.exitCode === null && r.child.signalCode === null;
}
