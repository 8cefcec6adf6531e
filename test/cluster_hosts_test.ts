/**
 * The cluster on links between hosts: network namespaces on one machine (test/cluster/hosts.ts),
 * nats-server on host 1, the coordinator on host 2, workers on hosts 3–5, every link capped at
 * 1 Gbit/s, each addressing the others by the hosts' own addresses. Hosts are killed whole, cut
 * off and the server restarted; the result must stay `--workers 0`'s, byte for byte.
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { currentRuntime, type RuntimeKind } from "../src/runtime/runtimes.ts";
import { eventually } from "./cluster/nats_fixture.ts";
import { createHosts, type HostNats, type Hosts, hostsSkip } from "./cluster/hosts.ts";
import { otherRuntime, runCli, type RunningCli } from "./run_cli.ts";

const SLOW = { timeout: 240_000, skip: hostsSkip };
/**
 * Two runs of L and its reference: from a minute and a half to several on a shared machine. A
 * measurement, not a check the suite needs on every run: SHARDNET_MEASURE_HOSTS=1 runs it.
 */
const MEASURE = {
  timeout: 900_000,
  skip: hostsSkip ||
    (process.env.SHARDNET_MEASURE_HOSTS === "1"
      ? false
      : "the L measurement over links runs with SHARDNET_MEASURE_HOSTS=1"),
};
const COORDINATOR = 2;
/**
 * Long enough to act on while it goes: several seconds of steps, each a round trip; batches of 8
 * chunks, so that every worker holds blocks to lose.
 */
const LONG = [
  "--data",
  "gen:xor",
  "--samples",
  "4096",
  "--features",
  "8",
  "--hidden",
  "8",
  "--dtype",
  "f64",
  "--epochs",
  "3000",
];
let hosts: Hosts | undefined;
let nats: HostNats | undefined;
let dir = "";
let want = "";
const started: RunningCli[] = [];

before(async () => {
  if (hostsSkip) return;
  hosts = await createHosts(5, "1gbit");
  dir = hosts.dir;
  nats = await hosts.startNats(1);
  const out = join(dir, "reference.json");
  const r = await runCli("train", [...LONG, "--workers", "0", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  want = readFileSync(out, "utf8");
});

afterEach(stopWorkers);

after(async () => {
  await hosts?.stop();
});

/** Starts a worker process in host `i` and waits until it has joined the cluster. */
async function startWorker(i: number, runtime: RuntimeKind, name: string): Promise<RunningCli> {
  const w = hosts!.startCli(
    i,
    "worker",
    ["--cluster", nats!.url, "--threads", "1", "--name", name],
    runtime,
  );
  started.push(w);
  assert.ok(
    await eventually(() => w.stderr().includes("joined the cluster"), 60_000),
    `worker ${name} did not join: ${w.stderr()}`,
  );
  return w;
}

/** Ends what a test started, even when it failed: workers leave, a coordinator left over dies. */
async function stopWorkers(): Promise<void> {
  for (const w of started.splice(0)) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      process.kill(w.child.pid!, "SIGTERM");
      const timer = setTimeout(() => w.child.kill("SIGKILL"), 10_000);
      await w.done;
      clearTimeout(timer);
    }
  }
}

function train(args: readonly string[], runtime: RuntimeKind = currentRuntime()): RunningCli {
  const run = hosts!.startCli(COORDINATOR, "train", ["--cluster", nats!.url, ...args], runtime);
  started.push(run);
  return run;
}

async function running(run: RunningCli, epoch = 1): Promise<void> {
  const reached = () => {
    const last = [...run.stdout().matchAll(/epoch\s+(\d+)\//g)].at(-1);
    return last !== undefined && Number(last[1]) >= epoch;
  };
  assert.ok(await eventually(reached, 60_000), `${run.stdout().slice(-300)}\n${run.stderr()}`);
}

/** Whether the coordinator's log says the worker process called `name` was lost. */
function lost(stderr: string, name: string): boolean {
  const id = stderr.match(new RegExp(`worker (\\w+) \\(${name},`))?.[1];
  return id !== undefined && new RegExp(`worker ${id} lost`).test(stderr);
}

describe("cluster on hosts in network namespaces", () => {
  it("finishes with --workers 0's bits when a whole worker host is killed", SLOW, async () => {
    await startWorker(3, currentRuntime(), "h3");
    await startWorker(4, otherRuntime(), "h4");
    const out = join(dir, "killed.json");
    const run = train([...LONG, "--min-workers", "2", "--cluster-timeout", "2", "--out", out]);
    await running(run, 50);
    hosts!.killHost(4);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lost(r.stderr, "h4"), r.stderr);
    assert.equal(readFileSync(out, "utf8"), want);
  });

  it(
    "finishes with the same bits when a host's link is cut for longer than --cluster-timeout",
    SLOW,
    async () => {
      await startWorker(3, otherRuntime(), "c3");
      const c5 = await startWorker(5, currentRuntime(), "c5");
      const out = join(dir, "cut.json");
      // Long enough that the run goes on for seconds after the link is back: the rejoin takes a
      // reconnect, a lease put and a join, whose ask may time out and be repeated at the next
      // heartbeat (a quiet CI run of 6000 epochs ended about a second after the link was back).
      const longer = [...LONG.slice(0, -1), "20000"];
      const reference = join(dir, "cut-reference.json");
      const ref = await runCli("train", [...longer, "--workers", "0", "--out", reference]);
      assert.equal(ref.code, 0, ref.stderr);
      const run = train([...longer, "--min-workers", "2", "--cluster-timeout", "2", "--out", out]);
      await running(run, 50);
      hosts!.setLink(5, false);
      try {
        assert.ok(
          await eventually(() => lost(run.stderr(), "c5"), 30_000),
          `the coordinator did not notice the cut: ${run.stderr()}`,
        );
        // Longer than the timeout on the worker's side too, so that it gives the run up.
        await new Promise((resolve) => setTimeout(resolve, 4_000));
      } finally {
        hosts!.setLink(5, true);
      }
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), readFileSync(reference, "utf8"));
      // The worker gives the run up at once when it has heard nothing for the timeout, whatever
      // its step in flight waits for, connects anew when the server does not answer its ping, puts
      // its lease again at once, and is asked again: it serves the run a second time.
      const joins = r.stderr.match(/\(c5,[^\n]*joined/g) ?? [];
      console.log(`c5 joined ${joins.length} times`);
      assert.ok(joins.length >= 2, `c5 did not rejoin:\n${r.stderr}\nits log:\n${c5.stderr()}`);
    },
  );

  it(
    "continues, or stops with its checkpoint and --resume completes, when nats-server restarts",
    SLOW,
    async () => {
      await startWorker(3, currentRuntime(), "n3");
      await startWorker(4, otherRuntime(), "n4");
      const out = join(dir, "restart.json");
      const checkpoint = join(dir, "restart.ckpt");
      const args = [...LONG, "--min-workers", "2", "--cluster-timeout", "4", "--out", out];
      const run = train([...args, "--cluster-wait", "20", "--checkpoint", checkpoint]);
      await running(run, 50);
      await nats!.stop();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await nats!.start();
      const r = await run.done;
      if (r.code === 0) {
        console.log("nats-server restarted: the run continued");
      } else {
        console.log(
          `nats-server restarted: the run stopped: ${r.stderr.trim().split("\n").at(-1)}`,
        );
        assert.equal(r.code, 1, r.stderr);
        assert.ok(existsSync(checkpoint), r.stderr);
        const resumed = await train([...args, "--resume", checkpoint]).done;
        assert.equal(resumed.code, 0, resumed.stderr);
      }
      assert.equal(readFileSync(out, "utf8"), want);
    },
  );

  it(
    "measures the L step over 1 Gbit/s links against loopback, with the same bits",
    MEASURE,
    async () => {
      const l = ["--data", "gen:xor", "--samples", "32768", "--features", "256", "--hidden", "64"];
      const args = [...l, "--dtype", "f32", "--epochs", "6", "--log-format", "json"];
      const reference = join(dir, "l-reference.json");
      const ref = await runCli("train", [...args, "--workers", "0", "--out", reference]);
      assert.equal(ref.code, 0, ref.stderr);
      await startWorker(3, currentRuntime(), "l3");
      await startWorker(4, currentRuntime(), "l4");
      const linked = join(dir, "l-hosts.json");
      const overLinks = await train([...args, "--min-workers", "2", "--out", linked]).done;
      assert.equal(overLinks.code, 0, overLinks.stderr);
      const looped = join(dir, "l-loopback.json");
      const loopback = await runCli(
        "cluster",
        [...args, "--processes", "2", "--threads", "1", "--out", looped],
        {},
        600_000,
      );
      assert.equal(loopback.code, 0, loopback.stderr);
      for (
        const [where, r, out] of [["1gbit", overLinks, linked], ["loopback", loopback, looped]]
      ) {
        const lines = (r as { stdout: string }).stdout.trim().split("\n").map((l) => JSON.parse(l));
        const done = lines.at(-1);
        assert.equal(done.engine, "cluster");
        assert.equal(done.processes, 2);
        // Epoch 1 fetches the data; the later ones are the steady state.
        const later = lines.filter((l) => l.event === "epoch" && l.epoch > 1).map((l) => l.ms)
          .sort((a, b) => a - b);
        const median = later[Math.floor(later.length / 2)];
        console.log(JSON.stringify({ where, epoch_ms_after_first: later, median, ...done }));
        assert.equal(
          readFileSync(out as string, "utf8"),
          readFileSync(reference, "utf8"),
          where as string,
        );
      }
    },
  );
});
