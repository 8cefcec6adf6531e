/**
 * The cluster under churn and sharing, with real processes: worker processes SIGKILLed and
 * replaced every 20–30 steps of a run of hundreds of steps, with the memory of the coordinator and
 * of a worker that lives through it all read from /proc; two coordinators training different data
 * at once on one server and one pool of workers; and more worker threads than cores. Each result
 * must be its own `--workers 0`'s, byte for byte.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { currentRuntime } from "../src/runtime/runtimes.ts";
import { alive, clusterFixture } from "./cluster/cluster_fixture.ts";
import { eventually, natsSkip } from "./cluster/nats_fixture.ts";
import { otherRuntime, runCli, type RunningCli, startCli } from "./run_cli.ts";

const SLOW = { timeout: 300_000, skip: natsSkip };
/**
 * 320 steps: 80 epochs of 4 mini-batches of 2048 rows, each batch 4 chunks of 512 rows, so that
 * every worker of the run holds a block to lose.
 */
const CHURN = [
  "--data",
  "gen:xor",
  "--samples",
  "8192",
  "--features",
  "16",
  "--hidden",
  "16",
  "--dtype",
  "f64",
  "--batch-size",
  "2048",
  "--epochs",
  "80",
];
const STEPS_PER_EPOCH = 4;
/** At most this many workers killed in a run, however it goes. */
const MAX_KILLS = 16;

const cluster = clusterFixture("shardnet-chaos-test-");
const { running, startWorker, reference, clusterArgs } = cluster;
/** How long a reference run (`--workers 0`) may take. */
const REFERENCE_MS = 240_000;

/** The last epoch a JSON epoch log has reached (0 before the first). */
function epochOf(stdout: string): number {
  const last = [...stdout.matchAll(/"event":"epoch","epoch":(\d+)/g)].at(-1);
  return last === undefined ? 0 : Number(last[1]);
}

/** VmRSS and VmHWM of a process, in MiB. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

describe("cluster under churn", () => {
  it(
    "keeps --workers 0's bits while workers are killed and replaced every 20–30 steps, " +
      "with flat memory",
    SLOW,
    async () => {
      const want = await reference(CHURN, "churn", REFERENCE_MS);
      const steady = await startWorker(currentRuntime(), "steady");
      const churned: RunningCli[] = [];
      for (let i = 0; i < 3; i++) {
        churned.push(await startWorker(i % 2 === 0 ? otherRuntime() : currentRuntime(), `c${i}`));
      }
      const out = join(cluster.dir, "churn.json");
      const run = startCli(
        "train",
        [
          ...CHURN,
          ...clusterArgs(4, ["--cluster-timeout", "2", "--log-format", "json", "--out", out]),
        ],
        {},
        240_000,
      );
      running.push(run);
      const coordinator = run.child.pid!;
      const worker = steady.child.pid!;
      // Start: once every process has computed a few steps (compiled, buffers allocated).
      assert.ok(await eventually(() => epochOf(run.stdout()) >= 3, 120_000), run.stderr());
      const start = { coordinator: memoryOf(coordinator), worker: memoryOf(worker) };
      let end = start;
      const kills: number[] = [];
      let next = 3 + 5 + Math.floor(Math.random() * 3);
      let started = 3;
      const deadline = Date.now() + 230_000;
      while (alive(run) && Date.now() < deadline) {
        const epoch = epochOf(run.stdout());
        // The coordinator's last reading, as late in the run as can be taken.
        if (epoch < 80) {
          try {
            end = { coordinator: memoryOf(coordinator), worker: memoryOf(worker) };
          } catch {
            // The coordinator ended between the look at its log and the read.
          }
        }
        if (epoch >= next && kills.length < MAX_KILLS && epoch < 78) {
          const victims = churned.filter(alive);
          const victim = victims[Math.floor(Math.random() * victims.length)];
          victim.child.kill("SIGKILL");
          kills.push(epoch * STEPS_PER_EPOCH);
          const runtime = started % 2 === 0 ? otherRuntime() : currentRuntime();
          churned.push(await startWorker(runtime, `c${started++}`, { wait: false }));
          // Every 20–28 steps: 5, 6 or 7 epochs of 4 steps.
          next = epoch + 5 + Math.floor(Math.random() * 3);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const r = await run.done;
      end = { coordinator: end.coordinator, worker: memoryOf(worker) };
      console.log(
        `churn: ${(r.ms / 1000).toFixed(1)} s, ${kills.length} workers killed, at steps ${
          kills.join(", ")
        }; ` +
          `MiB at start → end (rss, hwm): coordinator ${show(start.coordinator)} → ` +
          `${show(end.coordinator)}, steady worker ${show(start.worker)} → ${show(end.worker)}`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      assert.ok(kills.length >= 8, `only ${kills.length} kills: ${r.stderr}`);
      assert.match(r.stderr, /lost/);
      const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.equal(done.epochs_run, 80);
      assert.ok(alive(steady), "the steady worker lived through the run");
      // Measured: from −13 to +8 MiB on Deno and Bun (garbage collection moves RSS by tens of
      // MiB). The bound still fails a leak of the order of the data set (1 MiB) per step, or of a
      // worker's state per kill.
      for (const who of ["coordinator", "worker"] as const) {
        const [a, b] = [start[who], end[who]];
        assert.ok(b.rss <= a.rss * 1.25 + 40, `${who} RSS grew: ${show(a)} → ${show(b)}`);
      }
    },
  );
});

function show(m: { rss: number; hwm: number }): string {
  return `${m.rss.toFixed(0)}/${m.hwm.toFixed(0)}`;
}

/** Full batch of 1024 rows: 2 chunks a step, so that a run takes at most 2 worker processes. */
function twoChunks(generator: string, features: number, epochs: number): string[] {
  return [
    "--data",
    `gen:${generator}`,
    "--samples",
    "1024",
    "--features",
    String(features),
    "--hidden",
    "8",
    "--dtype",
    "f64",
    "--epochs",
    String(epochs),
  ];
}

/** The ids of the workers a coordinator's log says joined its run. */
function joinedIds(stderr: string): Set<string> {
  return new Set([...stderr.matchAll(/worker (w[0-9a-f]+) \([^)]*\) joined/g)].map((m) => m[1]));
}

describe("cluster shared", () => {
  it(
    "runs two coordinators on different data at once on one pool of workers, each with its own bits",
    SLOW,
    async () => {
      const a = twoChunks("xor", 8, 400);
      const b = twoChunks("circles", 5, 400);
      const [wantA, wantB] = [
        await reference(a, "shared-a", REFERENCE_MS),
        await reference(b, "shared-b", REFERENCE_MS),
      ];
      const workers: RunningCli[] = [];
      for (let i = 0; i < 4; i++) {
        workers.push(await startWorker(i % 2 === 0 ? currentRuntime() : otherRuntime(), `s${i}`));
      }
      const shared = (out: string) => clusterArgs(2, ["--log-format", "json", "--out", out]);
      const [outA, outB] = [join(cluster.dir, "shared-a.json"), join(cluster.dir, "shared-b.json")];
      const runA = startCli("train", [...a, ...shared(outA)], {}, 240_000);
      const runB = startCli("train", [...b, ...shared(outB)], {}, 240_000);
      running.push(runA, runB);
      const [ra, rb] = [await runA.done, await runB.done];
      assert.equal(ra.code, 0, ra.stderr);
      assert.equal(rb.code, 0, rb.stderr);
      assert.equal(readFileSync(outA, "utf8"), wantA, "run A");
      assert.equal(readFileSync(outB, "utf8"), wantB, "run B");
      // Each run took two workers of its own and kept them: they ran side by side.
      const [idsA, idsB] = [joinedIds(ra.stderr), joinedIds(rb.stderr)];
      assert.equal(idsA.size, 2, ra.stderr);
      assert.equal(idsB.size, 2, rb.stderr);
      assert.equal([...idsA].filter((id) => idsB.has(id)).length, 0, "a worker served both");
      for (const r of [ra, rb]) {
        assert.equal(JSON.parse(r.stdout.trim().split("\n").at(-1)!).processes, 2, r.stdout);
      }
      for (const w of workers) {
        process.kill(w.child.pid!, "SIGTERM");
        const logged = (await w.done).stderr;
        assert.doesNotMatch(logged, /dropped a message/, "no message of the other run");
        const runs = new Set([...logged.matchAll(/serving run (r[0-9a-f]+)/g)].map((m) => m[1]));
        assert.equal(runs.size, 1, logged);
      }
      console.log(
        `shared: run A ${(ra.ms / 1000).toFixed(1)} s, run B ${(rb.ms / 1000).toFixed(1)} s`,
      );
    },
  );

  it(
    "trains on 8 worker processes of 2 threads on this machine's cores, with the same bits",
    SLOW,
    async () => {
      // 16 chunks of 512 rows a step: two for each worker process.
      const args = ["--data", "gen:xor", "--samples", "8192", "--features", "8", "--hidden", "8"];
      args.push("--dtype", "f64", "--epochs", "20");
      const want = await reference(args, "oversubscribed", REFERENCE_MS);
      for (let i = 0; i < 8; i++) {
        await startWorker(i % 2 === 0 ? currentRuntime() : otherRuntime(), `o${i}`, { threads: 2 });
      }
      const out = join(cluster.dir, "oversubscribed.json");
      const r = await runCli(
        "train",
        [...args, ...clusterArgs(8, ["--log-format", "json", "--out", out])],
        {},
        240_000,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.equal(done.processes, 8);
      console.log(`oversubscribed: 8 × 2 threads, ${(r.ms / 1000).toFixed(1)} s`);
    },
  );
});
