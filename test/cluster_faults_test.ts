/**
 * A broken worker told from a diverging model, and hostile messages on a run's subjects: real
 * nats-server, real worker processes, and rogue workers (`test/cluster/rogue_worker.ts`) that join
 * over NATS like any worker and answer their steps wrongly.
 */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectCluster } from "../src/engines/cluster/connection.ts";
import { encodeEnvelope, ENVELOPE_VERSION } from "../src/engines/cluster/envelope.ts";
import { Rng } from "../src/rng.ts";
import { currentRuntime } from "../src/runtime/runtimes.ts";
import { clusterFixture } from "./cluster/cluster_fixture.ts";
import { eventually, natsSkip } from "./cluster/nats_fixture.ts";
import { type Misdeed, MISDEEDS, RogueWorker } from "./cluster/rogue_worker.ts";
import { otherRuntime, runCli, startCli } from "./run_cli.ts";

const SLOW = { timeout: 240_000, skip: natsSkip };
/** 4096 rows: batches of 8 chunks, so that every worker of a run holds blocks. */
const XOR = ["--data", "gen:xor", "--samples", "4096", "--features", "8", "--hidden", "8"];
const SHORT = [...XOR, "--dtype", "f64", "--epochs", "15"];
/** Shuffled batches of 4 chunks: the rows of a step are the epoch's order, not a range. */
const MINI = [...SHORT, "--batch-size", "2048"];
/** A run long enough that nine rogues join while it goes, even where its steps are fast. */
const LONG = [...XOR, "--dtype", "f64", "--epochs", "5000"];

const cluster = clusterFixture("shardnet-faults-test-");
const { running, startWorker, stopWorker, reference, clusterArgs } = cluster;
const rogues: RogueWorker[] = [];

afterEach(async () => {
  for (const rogue of rogues.splice(0)) await rogue.stop();
});

async function startRogue(misdeed: Misdeed): Promise<RogueWorker> {
  const rogue = await RogueWorker.start(cluster.url, misdeed, `rogue-${misdeed}`);
  rogues.push(rogue);
  return rogue;
}

/** The coordinator's lines that exclude a worker. */
function exclusions(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.includes("excluded from the run"))
    .map((line) => line.replace(/^note: /, ""));
}

describe("a broken worker and a diverging model", () => {
  it(
    "excludes a worker whose NaN sums another worker does not reproduce, with the bits of --workers 0",
    SLOW,
    async () => {
      const want = await reference(SHORT, "nan");
      const healthy = [
        await startWorker(currentRuntime(), "n1"),
        await startWorker(otherRuntime(), "n2"),
      ];
      const rogue = await startRogue("nan_sums");
      const out = join(cluster.dir, "nan.json");
      const r = await runCli("train", [...SHORT, ...clusterArgs(3), "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      assert.ok(rogue.answered >= 1, "the rogue was given blocks");
      const lines = exclusions(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^worker ${rogue.id} \\(rogue-nan_sums\\) excluded .*`));
      assert.match(lines[0], /step 1: its sums have a NaN or an infinity where worker w\w+'s have/);
      assert.doesNotMatch(r.stderr, /diverge/);
      for (const w of healthy) await stopWorker(w);
    },
  );

  it(
    "settles a lone worker's NaN sums with the coordinator's own, and goes on with the bits of --workers 0",
    SLOW,
    async () => {
      const want = await reference(MINI, "alone");
      const rogue = await startRogue("nan_sums");
      const out = join(cluster.dir, "alone.json");
      const run = startCli("train", [...MINI, ...clusterArgs(1), "--out", out]);
      running.push(run);
      assert.ok(await eventually(() => /excluded/.test(run.stderr()), 60_000), run.stderr());
      const w = await startWorker(otherRuntime(), "a1");
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);
      const lines = exclusions(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^worker ${rogue.id} .*not the numbers this coordinator`));
      assert.match(r.stderr, /no worker left in step 2/);
      await stopWorker(w);
    },
  );

  it(
    "reports a divergence that every worker reproduces exactly as --workers 0 does",
    SLOW,
    async () => {
      // Unscaled features of 1e60 overflow the loss a few epochs in (as in cli_divergence_test).
      const rng = new Rng(3);
      const lines = ["a,b,c,label"];
      for (let i = 0; i < 4096; i++) {
        const [a, b, c] = [0, 1, 2].map(() => (2 * rng.uniform() - 1) * 1e60);
        lines.push(`${a},${b},${c},${a + b > 0 ? 1 : 0}`);
      }
      const data = join(cluster.dir, "huge.csv");
      writeFileSync(data, lines.join("\n") + "\n");
      const args = ["--data", data, "--dtype", "f64", "--standardize", "none", "--epochs", "50"];
      const local = await runCli("train", [...args, "--workers", "0"]);
      assert.equal(local.code, 1, local.stderr);
      const message = local.stderr.trim().split("\n").at(-1)!;
      assert.match(message, /^train: training diverged at epoch \d+: the loss is/);
      const healthy = [
        await startWorker(currentRuntime(), "d1"),
        await startWorker(otherRuntime(), "d2"),
      ];
      const r = await runCli("train", [...args, ...clusterArgs(2)]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split("\n").at(-1), message, r.stderr);
      assert.match(
        r.stderr,
        /computes the same non-finite sums as worker w\w+: the model diverges/,
      );
      assert.deepEqual(exclusions(r.stderr), [], r.stderr);
      for (const w of healthy) await stopWorker(w);
    },
  );
});

describe("hostile messages", () => {
  it(
    "excludes each worker that answers wrongly, drops forged requests and broadcasts to a worker, one line per kind, and keeps the bits",
    SLOW,
    async () => {
      const want = await reference(LONG, "hostile");
      const w = await startWorker(currentRuntime(), "h1");
      const id = /joined the cluster as (w[0-9a-f]+)/.exec(w.stderr())![1];
      const out = join(cluster.dir, "hostile.json");
      const run = startCli("train", [...LONG, ...clusterArgs(1), "--out", out]);
      running.push(run);
      assert.ok(
        await eventually(() => /epoch\s+\d+\/5000/.test(run.stdout()), 60_000),
        run.stderr(),
      );
      const runId = /serving run (r[0-9a-f]+)/.exec(w.stderr())![1];
      // Rogues join mid-run, so that each is asked a step after the first (a stale one exists).
      const joined = await Promise.all(MISDEEDS.map((m) => startRogue(m)));

      const nc = await connectCluster(cluster.url);
      const to = `shardnet.v1.worker.${id}.step`;
      const step = (run: string, params: Float64Array) =>
        encodeEnvelope({
          v: ENVELOPE_VERSION,
          kind: "step",
          run,
          step: 5,
          from: `c${run}`,
          body: {
            dtype: "f64",
            params,
            begin: 0,
            end: 4096,
            rows: null,
            chunkRows: 512,
            blocks: [{ first: 0, span: 8 }],
          },
        });
      const paramCount = 8 * 8 + 2 * 8 + 1;
      const forged = [
        step("rforged", new Float64Array(paramCount)),
        step(runId, new Float64Array(paramCount).fill(NaN)),
        step(runId, new Float64Array(paramCount - 1)),
        step(runId, new Float64Array(paramCount)).subarray(0, 100),
        crypto.getRandomValues(new Uint8Array(64)),
      ];
      for (let i = 0; i < 3; i++) for (const bytes of forged) nc.publish(to, bytes);
      // And broadcast steps on the run's subject: another coordinator's, NaN parameters, a worker
      // dealt twice.
      const broadcast = (from: string, params: Float64Array, twice: boolean) =>
        encodeEnvelope({
          v: ENVELOPE_VERSION,
          kind: "broadcast",
          run: runId,
          step: 5,
          from,
          body: {
            dtype: "f64",
            params,
            begin: 0,
            end: 4096,
            rows: null,
            chunkRows: 512,
            deals: [
              { worker: id, blocks: [{ first: 0, span: 4 }] },
              { worker: twice ? id : "wother", blocks: [{ first: 4, span: 4 }] },
            ],
          },
        });
      const forgedBroadcasts = [
        broadcast("cforged", new Float64Array(paramCount), false),
        broadcast(`c${runId}`, new Float64Array(paramCount).fill(NaN), false),
        broadcast(`c${runId}`, new Float64Array(paramCount), true),
      ];
      for (let i = 0; i < 3; i++) {
        for (const bytes of forgedBroadcasts) {
          nc.publish(`shardnet.v1.run.${runId}.step`, bytes, { reply: "_INBOX.forger" });
        }
      }
      await nc.drain();

      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, "utf8"), want);

      const lines = exclusions(r.stderr);
      const why: Record<Misdeed, RegExp> = {
        nan_sums: /NaN or an infinity where worker|not the numbers this coordinator computes/,
        nan_count: /non_finite: a correct count is NaN/,
        random: /not_msgpack|not_envelope/,
        truncated: /not_msgpack/,
        wrong_run: /a result for run rforged/,
        stale_step: /step (\d+): a result for step (\d+)/,
        future_step: /step (\d+): a result for step (\d+)/,
        shape: /shape: sums has \d+ elements/,
        oversize: /oversize: \d+ bytes > \d+/,
      };
      for (const rogue of joined) {
        const misdeed = MISDEEDS[joined.indexOf(rogue)];
        assert.ok(rogue.answered >= 1, `${misdeed}: asked no step\n${r.stderr}`);
        const mine = lines.filter((line) => line.startsWith(`worker ${rogue.id} `));
        assert.equal(mine.length, 1, `${misdeed}\n${r.stderr}`);
        assert.match(mine[0], why[misdeed]);
        const steps = /step (\d+): a result for step (\d+)/.exec(mine[0]);
        if (misdeed === "stale_step") assert.equal(Number(steps![2]), Number(steps![1]) - 1);
        if (misdeed === "future_step") assert.equal(Number(steps![2]), Number(steps![1]) + 1);
      }
      assert.equal(lines.length, MISDEEDS.length, r.stderr);

      const logged = await stopWorker(w);
      const drops = logged.split("\n").filter((line) => line.includes("dropped a message"))
        .map((line) => /dropped a message \(([^;]+);/.exec(line)![1]);
      assert.equal(new Set(drops).size, drops.length, logged);
      const counts = new Map(
        (/messages dropped: (.*)/.exec(logged)?.[1] ?? "").split(", ").map((c) => {
          const [n, kind] = c.split(" × ");
          return [kind, Number(n)];
        }),
      );
      const kinds = ["step: another run", "step: non_finite", "step: shape"];
      kinds.push("broadcast: another run", "broadcast: non_finite", "broadcast: shape");
      for (const kind of kinds) {
        assert.equal(counts.get(kind), 3, `${kind}\n${logged}`);
        assert.ok(drops.includes(kind), logged);
      }
      // The truncated envelope and the random bytes: no kind can be read from either.
      const unread = [...counts].filter(([kind]) => /^\?: (not_msgpack|not_envelope)$/.test(kind));
      assert.equal(unread.reduce((n, [, c]) => n + c, 0), 6, logged);
      for (const [kind] of unread) assert.ok(drops.includes(kind), logged);
      assert.deepEqual([...counts.keys()].sort(), [...drops].sort(), logged);
    },
  );
});
