/**
 * The cluster engine end to end, as people run it: nats-server, worker processes on Deno and Bun
 * (`scripts/worker.ts`), and the coordinator (`train --cluster`), with processes killed for real.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectCluster } from "../src/engines/cluster/connection.ts";
import { deal } from "../src/engines/cluster/assignment.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
} from "../src/engines/cluster/envelope.ts";
import { currentRuntime, type RuntimeKind } from "../src/runtime/runtimes.ts";
import { alive, clusterFixture } from "./cluster/cluster_fixture.ts";
import { eventually, natsSkip, processAlive } from "./cluster/nats_fixture.ts";
import { startTcpProxy } from "./cluster/tcp_proxy.ts";
import { otherRuntime, runCli, type RunningCli, startCli } from "./run_cli.ts";

const SLOW = { timeout: 240_000, skip: natsSkip };
const BREAST_CANCER = "data/breast_cancer.csv";
/** 4096 rows: batches of 8 chunks, so that every worker of a run holds blocks to lose. */
const XOR = ["--data", "gen:xor", "--samples", "4096", "--features", "8", "--hidden", "8"];
/** A run long enough to act on while it goes: several seconds on 2 cores. */
const LONG = [...XOR, "--dtype", "f64", "--epochs", "600"];
const SHORT = [...XOR, "--dtype", "f64", "--epochs", "15"];

const cluster = clusterFixture("shardnet-cluster-test-");
const { running, startWorker, reference, clusterArgs } = cluster;

/** Stops a worker that still runs as a person would (SIGTERM) and checks that it left cleanly. */
async function stopWorker(w: RunningCli): Promise<void> {
  if (!alive(w)) return;
  assert.match(await cluster.stopWorker(w), /left the cluster/);
}

describe("cluster engine", () => {
  it(
    "gives --workers 0's bits with 1, 2 and 3 worker processes of both runtimes",
    SLOW,
    async () => {
      const want = await reference(SHORT, "short");
      const runtimes: RuntimeKind[] = [currentRuntime(), otherRuntime(), currentRuntime()];
      const workers: RunningCli[] = [];
      for (let n = 1; n <= 3; n++) {
        workers.push(await startWorker(runtimes[n - 1], `w${n}`));
        const out = join(cluster.dir, `short-${n}.json`);
        const r = await runCli("train", [
          ...SHORT,
          ...clusterArgs(n, ["--log-format", "json"]),
          "--out",
          out,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        assert.equal(done.engine, "cluster");
        assert.equal(done.processes, n);
        assert.ok(done.bytes_per_step > 0 && done.sync_ms >= 0, r.stdout);
        assert.equal(readFileSync(out, "utf8"), want, `${n} worker processes`);
      }
      for (const w of workers) await stopWorker(w);
    },
  );

  it(
    "sends each step's parameters once to all its workers, not once to each",
    SLOW,
    async () => {
      const [features, hidden] = [32, 32];
      const args = [...SHORT];
      args.splice(
        args.indexOf("--features"),
        4,
        "--features",
        `${features}`,
        "--hidden",
        `${hidden}`,
      );
      const want = await reference(args, "once");
      const workers = [
        await startWorker(currentRuntime(), "o1"),
        await startWorker(otherRuntime(), "o2"),
        await startWorker(currentRuntime(), "o3"),
      ];
      const out = join(cluster.dir, "once.json");
      const r = await runCli("train", [
        ...args,
        ...clusterArgs(3, ["--log-format", "json"]),
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.equal(done.processes, 3);
      // Each step the workers send one P-vector of f64 per block they are dealt (8 chunks among 3).
      const vector = 8 * (hidden * features + 2 * hidden + 1);
      const members = ["a", "b", "c"].map((id) => ({ id, threads: 1 }));
      const blocks = [...deal(8, members).values()].reduce((n, b) => n + b.length, 0);
      // The parameters once to each of 3 workers, besides the sums, would be at least this.
      const perWorker = (3 + blocks) * vector;
      assert.ok(
        done.bytes_per_step < perWorker,
        `${done.bytes_per_step} bytes per step, one step message per worker: ≥ ${perWorker}`,
      );
      assert.ok(done.bytes_per_step > (1 + blocks) * vector, `${done.bytes_per_step}`);
      for (const w of workers) await stopWorker(w);
    },
  );

  it(
    "gives a worker that missed a broadcast step its work again, with the same bits",
    SLOW,
    async () => {
      const want = await reference(LONG, "missed");
      // The first subscription of the slow worker to a run's steps never reaches the server: it
      // misses every broadcast until it is given up on, joins again, and subscribes anew.
      let deafened = 0;
      await using proxy = await startTcpProxy(Number(cluster.url.split(":").at(-1)), {
        dropSubscription: (s) => /^shardnet\.v1\.run\.[^.]+\.step$/.test(s) && deafened++ === 0,
      });
      const a = await startWorker(currentRuntime(), "b1");
      const b = await startWorker(otherRuntime(), "b2", { url: proxy.url });
      const id = /joined the cluster as (w[0-9a-f]+)/.exec(b.stderr())![1];
      const out = join(cluster.dir, "missed.json");
      const r = await runCli("train", [
        ...LONG,
        ...clusterArgs(2, ["--cluster-timeout", "2", "--log-format", "json"]),
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      assert.equal(deafened, 2, "subscribed, given up on, subscribed again");
      assert.match(
        r.stderr,
        new RegExp(`worker ${id} lost: no result for step \\d+ \\(timeout after 2 s\\)`),
      );
      assert.equal(r.stderr.match(/\(b2, [^\n]*\) joined/g)?.length, 2, r.stderr);
      assert.equal(JSON.parse(r.stdout.trim().split("\n").at(-1)!).processes, 2);
      await stopWorker(a);
      await stopWorker(b);
    },
  );

  it(
    "waits --cluster-timeout for a worker's lost result again after it waited one out before",
    SLOW,
    async () => {
      const args = [...XOR, "--dtype", "f64", "--epochs", "3000"];
      const want = await reference(args, "unanswered");
      // Two results of the slow worker never reach the server: it is given up on, joins again, and
      // is given up on again, in a step after the first of its new blocks (whose rows it fetches,
      // and which is waited for as long as a join).
      const lost: number[] = [];
      let sinceLost = 0;
      await using proxy = await startTcpProxy(Number(cluster.url.split(":").at(-1)), {
        dropPublish: (_, payload) => {
          const d = decodeEnvelope(payload);
          if (!d.ok || d.envelope.kind !== "result" || lost.length === 2) return false;
          if (lost.length === 0 ? d.envelope.step! < 5 : ++sinceLost < 3) return false;
          lost.push(d.envelope.step!);
          return true;
        },
      });
      const a = await startWorker(currentRuntime(), "e1");
      const b = await startWorker(otherRuntime(), "e2", { url: proxy.url });
      const id = /joined the cluster as (w[0-9a-f]+)/.exec(b.stderr())![1];
      const out = join(cluster.dir, "unanswered.json");
      const r = await runCli("train", [
        ...args,
        ...clusterArgs(2, ["--cluster-timeout", "2"]),
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      assert.equal(lost.length, 2, `results lost: ${lost}`);
      // Both waits are the timeout: a step that waited one out does not count as a slow step (it
      // had made the next wait twenty times that step).
      const losses = r.stderr.match(
        new RegExp(`worker ${id} lost: no result for step \\d+ \\([^)]*\\)`, "g"),
      ) ?? [];
      assert.deepEqual(
        losses.map((l) => l.replace(/step \d+/, "step N")),
        Array(2).fill(`worker ${id} lost: no result for step N (timeout after 2 s)`),
        r.stderr,
      );
      await stopWorker(a);
      await stopWorker(b);
    },
  );

  it(
    "drops and counts replies to a broadcast that no worker is awaited for, with the same bits",
    SLOW,
    async () => {
      const want = await reference(SHORT, "replayed");
      const workers = [
        await startWorker(currentRuntime(), "d1"),
        await startWorker(otherRuntime(), "d2"),
      ];
      // Every result a worker sends is sent again by a bystander: a second answer of its step.
      const nc = await connectCluster(cluster.url);
      let replayed = 0;
      nc.subscribe("_INBOX.>", {
        callback: (_, msg) => {
          const d = decodeEnvelope(msg.data);
          if (!d.ok || d.envelope.kind !== "result") return;
          nc.publish(msg.subject, msg.data);
          replayed++;
        },
      });
      await nc.flush();
      const out = join(cluster.dir, "replayed.json");
      const r = await runCli("train", [...SHORT, ...clusterArgs(2), "--out", out]);
      await nc.drain();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      assert.ok(replayed > 2, `${replayed} results replayed`);
      assert.doesNotMatch(r.stderr, /excluded|lost/);
      const dropped = r.stderr.split("\n").filter((l) => l.includes("dropped a reply ("));
      assert.ok(dropped.length >= 1 && dropped.length <= 2, r.stderr);
      const counts = /replies dropped: (.*)/.exec(r.stderr)?.[1] ?? "";
      const total = [...counts.matchAll(/(\d+) × (late|not awaited)/g)]
        .reduce((n, m) => n + Number(m[1]), 0);
      // The replays of the broadcasts' answers: all but the workers' first steps, asked alone.
      assert.ok(total >= 2 && total <= replayed, `${total} of ${replayed}: ${r.stderr}`);
      for (const w of workers) await stopWorker(w);
    },
  );

  it(
    "pins the plain wasm build when Deno and Bun workers disagree on relaxed SIMD",
    SLOW,
    async () => {
      const args = ["--data", BREAST_CANCER, "--hidden", "8", "--dtype", "f32", "--epochs", "15"];
      args.push("--backend", "wasm");
      const want = await reference([...args, "--kernel-variant", "plain"], "pinned");
      const workers = [
        await startWorker(currentRuntime(), "p1"),
        await startWorker(otherRuntime(), "p2"),
      ];
      const out = join(cluster.dir, "pinned.json");
      const r = await runCli("train", [...args, ...clusterArgs(2), "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /runs the plain build/);
      assert.match(r.stdout, /wasm \(plain\) backend/);
      assert.equal(readFileSync(out, "utf8"), want);
      for (const w of workers) await stopWorker(w);
    },
  );

  it(
    "gives the same bits for mini-batches with a last partial batch, f32, with validation",
    SLOW,
    async () => {
      const args = [
        "--data",
        BREAST_CANCER,
        "--hidden",
        "6",
        "--epochs",
        "6",
        "--batch-size",
        "100",
        "--val-split",
        "0.2",
        "--dtype",
        "f32",
      ];
      const want = await reference(args, "mini");
      const workers = [
        await startWorker(currentRuntime(), "m1"),
        await startWorker(otherRuntime(), "m2"),
      ];
      const out = join(cluster.dir, "mini.json");
      const r = await runCli("train", [...args, ...clusterArgs(2), "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /val loss/);
      assert.equal(readFileSync(out, "utf8"), want);
      for (const w of workers) await stopWorker(w);
    },
  );

  it("finishes with the same bits when a worker is killed mid-run", SLOW, async () => {
    const want = await reference(LONG, "long");
    const a = await startWorker(currentRuntime(), "k1");
    const b = await startWorker(otherRuntime(), "k2");
    const out = join(cluster.dir, "killed.json");
    const run = startCli("train", [
      ...LONG,
      ...clusterArgs(2, ["--cluster-timeout", "2"]),
      "--out",
      out,
    ]);
    running.push(run);
    assert.ok(await eventually(() => /epoch\s+\d+\/600/.test(run.stdout()), 60_000), run.stderr());
    b.child.kill("SIGKILL");
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /lost|left/, "the coordinator says it lost a worker");
    assert.equal(readFileSync(out, "utf8"), want);
    await stopWorker(a);
  });

  it("gives work to a worker that joins mid-run, with the same bits", SLOW, async () => {
    const want = await reference(LONG, "long-join");
    const a = await startWorker(currentRuntime(), "j1");
    const out = join(cluster.dir, "joined.json");
    const run = startCli("train", [
      ...LONG,
      ...clusterArgs(1, ["--log-format", "json"]),
      "--out",
      out,
    ]);
    running.push(run);
    assert.ok(await eventually(() => run.stdout().includes('"epoch"'), 60_000), run.stderr());
    const b = await startWorker(otherRuntime(), "j2");
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /j2[^\n]*joined/);
    assert.equal(JSON.parse(r.stdout.trim().split("\n").at(-1)!).processes, 2);
    assert.equal(readFileSync(out, "utf8"), want);
    await stopWorker(a);
    await stopWorker(b);
  });

  it(
    "drops hostile messages on a worker's subjects, one line per kind, and keeps the bits",
    SLOW,
    async () => {
      const args = [...LONG.slice(0, -1), "200"];
      const want = await reference(args, "hostile");
      const w = await startWorker(currentRuntime(), "h1");
      const id = /joined the cluster as (w[0-9a-f]+)/.exec(w.stderr())![1];
      const out = join(cluster.dir, "hostile.json");
      const run = startCli("train", [...args, ...clusterArgs(1), "--out", out]);
      running.push(run);
      assert.ok(
        await eventually(() => /epoch\s+\d+\/200/.test(run.stdout()), 60_000),
        run.stderr(),
      );
      const nc = await connectCluster(cluster.url);
      const valid = encodeEnvelope({
        v: ENVELOPE_VERSION,
        kind: "leave",
        run: "rforged",
        from: "intruder",
        body: {},
      });
      for (let i = 0; i < 5; i++) {
        nc.publish(`shardnet.v1.worker.${id}.step`, crypto.getRandomValues(new Uint8Array(64)));
        nc.publish(`shardnet.v1.worker.${id}.step`, valid.subarray(0, valid.length - 3));
        nc.publish(`shardnet.v1.worker.${id}.leave`, valid);
      }
      await nc.drain();
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      await stopWorker(w);
      const logged = (await w.done).stderr;
      const drops = logged.split("\n").filter((line) => line.includes("dropped a message"));
      assert.equal(new Set(drops).size, drops.length, logged);
      assert.ok(drops.length >= 2 && drops.length <= 4, logged);
      assert.match(logged, /messages dropped: .*5 × leave: not from this run's coordinator/);
    },
  );

  it("stops with one line within --cluster-wait when no worker comes", SLOW, async () => {
    const r = await runCli("train", [...SHORT, ...clusterArgs(1, ["--cluster-wait", "2"])]);
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.trim().split("\n").filter((line) => !line.startsWith("note: "));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0], /^train: waited 2 s for 1 worker process; 0 joined/);
    assert.ok(r.ms < 30_000, `${r.ms} ms`);
  });

  it(
    "saves its checkpoint when the last worker dies, and --resume completes the run",
    SLOW,
    async () => {
      const want = await reference(LONG, "long-resume");
      const checkpoint = join(cluster.dir, "lost.ckpt");
      const out = join(cluster.dir, "resumed.json");
      const a = await startWorker(currentRuntime(), "r1");
      const run = startCli("train", [
        ...LONG,
        ...clusterArgs(1, ["--cluster-wait", "2", "--cluster-timeout", "2"]),
        "--checkpoint",
        checkpoint,
        "--checkpoint-every",
        "1",
      ]);
      running.push(run);
      assert.ok(
        await eventually(() => /epoch\s+\d+\/600/.test(run.stdout()), 60_000),
        run.stderr(),
      );
      a.child.kill("SIGKILL");
      const stopped = await run.done;
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.match(stopped.stderr, /no worker process left/);
      assert.ok(existsSync(checkpoint));
      const b = await startWorker(otherRuntime(), "r2");
      const r = await runCli("train", [
        ...LONG,
        ...clusterArgs(1),
        "--resume",
        checkpoint,
        "--checkpoint",
        checkpoint,
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      await stopWorker(b);
    },
  );

  it(
    "keeps its workers when the coordinator is killed: they serve the next run",
    SLOW,
    async () => {
      const want = await reference(SHORT, "short-next");
      const a = await startWorker(currentRuntime(), "c1");
      const first = startCli("train", [...LONG, ...clusterArgs(1, ["--cluster-timeout", "1"])]);
      running.push(first);
      assert.ok(await eventually(() => /epoch\s+\d+\/600/.test(first.stdout()), 60_000));
      first.child.kill("SIGKILL");
      await first.done;
      assert.ok(
        await eventually(() => a.stderr().includes("nothing heard from coordinator"), 30_000),
        a.stderr(),
      );
      const out = join(cluster.dir, "next.json");
      const r = await runCli("train", [...SHORT, ...clusterArgs(1), "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      await stopWorker(a);
    },
  );
});

describe("cluster command", () => {
  /** Processes whose command line mentions `text`. */
  function processesWith(text: string): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
        if (cmd.includes(text) && processAlive(Number(entry))) pids.push(Number(entry));
      } catch {
        // ended meanwhile
      }
    }
    return pids;
  }

  it("trains on a local cluster of both runtimes and leaves no process behind", SLOW, async () => {
    const want = await reference(SHORT, "command");
    const out = join(cluster.dir, "command.json");
    const r = await runCli("cluster", [
      "--processes",
      "2",
      "--runtimes",
      `${currentRuntime()},${otherRuntime()}`,
      ...SHORT,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(out, "utf8"), want);
    const url = /connected to (nats:\/\/[\d.]+:\d+)/.exec(r.stderr)?.[1];
    assert.ok(url, r.stderr);
    assert.deepEqual(processesWith(url!), [], "a worker process outlived the command");
    const port = url!.split(":").at(-1)!;
    assert.deepEqual(
      processesWith(`shardnet-nats-`).filter((pid) => {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmd.includes(port);
      }),
      [],
    );
  });

  it("stops everything on SIGINT with status 130", SLOW, async () => {
    const run = startCli("cluster", ["--processes", "2", ...LONG]);
    running.push(run);
    assert.ok(await eventually(() => /epoch\s+\d+\/600/.test(run.stdout()), 60_000), run.stderr());
    const url = /connected to (nats:\/\/[\d.]+:\d+)/.exec(run.stderr())?.[1];
    assert.ok(url, run.stderr());
    process.kill(run.child.pid!, "SIGINT");
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(await eventually(() => processesWith(url!).length === 0, 10_000));
  });

  it("says which package to install when nats-server is missing", SLOW, async () => {
    const r = await runCli("cluster", [
      "--processes",
      "1",
      "--nats-server",
      join(cluster.dir, "no-such-nats-server"),
      ...SHORT,
    ]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /nats-server/);
  });
});
