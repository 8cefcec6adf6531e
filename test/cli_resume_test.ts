import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { readCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { runCli, startCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-resume-"));
const BREAST_CANCER = "data/breast_cancer.csv";
/** Bun ignores bunfig's timeout for node:test tests; these spawn a dozen runs each. */
const SLOW = { timeout: 120_000 };

/** The epoch lines of a JSON log, without their wall times. */
function epochs(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((line) => line.startsWith('{"event":"epoch"')).map((line) => {
    const { ms: _, ...rest } = JSON.parse(line);
    return rest;
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Trains `args` for `total` epochs without interruption; returns the model file and the log. */
async function uninterrupted(args: string[], total: number, name: string) {
  const out = join(dir, `${name}.json`);
  const r = await runCli("train", [...args, "--epochs", String(total), "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  return { model: readFileSync(out, "utf8"), log: epochs(r.stdout) };
}

/** Resumes `args` from `checkpoint` to `total` epochs; returns the model file and the log. */
async function resumed(args: string[], checkpoint: string, total: number, name: string) {
  const out = join(dir, `${name}.json`);
  const r = await runCli("train", [
    ...[...args, "--epochs", String(total), "--resume", checkpoint, "--out", out],
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { model: readFileSync(out, "utf8"), log: epochs(r.stdout) };
}

describe("a run stopped after epoch k and resumed ends with the same bits", () => {
  const TOTAL = 10;
  const CASES: [string, string[], string][] = [
    [
      "f32, 2 workers, shuffled mini-batches of 100 (569 rows: a last batch of 69)",
      [...["--data", BREAST_CANCER, "--hidden", "6", "--batch-size", "100", "--dtype", "f32"]],
      "2",
    ],
    [
      "f64, 3 workers, mini-batches of 64 and a validation split",
      [
        ...["--data", BREAST_CANCER, "--hidden", "5", "--batch-size", "64", "--dtype", "f64"],
        ...["--val-split", "0.15", "--seed", "7"],
      ],
      "3",
    ],
  ];
  CASES.forEach(([name, flags, workers], c) => {
    it(`${name}: k = 1, 3, 7 of ${TOTAL}`, SLOW, async () => {
      const args = [...flags, "--log-format", "json"];
      const whole = await uninterrupted([...args, "--workers", workers], TOTAL, `whole-${c}`);
      for (const k of [1, 3, 7]) {
        const checkpoint = join(dir, `case-${c}-k${k}.ckpt`);
        const first = await runCli("train", [
          ...[...args, "--workers", workers, "--epochs", String(k), "--checkpoint", checkpoint],
        ]);
        assert.equal(first.code, 0, first.stderr);
        assert.equal(readCheckpoint(checkpoint).epoch, k);
        // The worker count may change on resume: it never changes the bits.
        const rest = await resumed([...args, "--workers", "1"], checkpoint, TOTAL, `${c}-${k}`);
        assert.equal(rest.model, whole.model, `stopped after epoch ${k}`);
        assert.deepEqual(rest.log, whole.log.slice(k), `the log after epoch ${k}`);
      }
    });
  });
});

describe("a run killed or stopped mid-training", () => {
  /** Long enough epochs that a run is still going when the test acts on it. */
  const ARGS = [
    ...["--data", "xor", "--samples", "30000", "--features", "8", "--hidden", "32"],
    ...["--batch-size", "1500", "--workers", "2", "--log-format", "json"],
  ];

  it(
    "killed with SIGKILL, resumes from its last checkpoint to the uninterrupted bits",
    SLOW,
    async () => {
      const checkpoint = join(dir, "killed.ckpt");
      // Far more epochs than it runs before the kill, however slowly the test reacts.
      const running = startCli("train", [
        ...[
          ...ARGS,
          "--epochs",
          "100000",
          "--checkpoint",
          checkpoint,
          "--checkpoint-every",
          "1",
        ],
      ]);
      await waitFor(() => existsSync(checkpoint) && epochs(running.stdout()).length >= 3, 60_000);
      process.kill(running.child.pid!, "SIGKILL");
      const killed = await running.done;
      assert.equal(killed.signal, "SIGKILL");
      const logged = epochs(killed.stdout).length;
      // The kill may land between an epoch's log line and its checkpoint, never inside a write.
      const saved = readCheckpoint(checkpoint).epoch;
      assert.ok(saved === logged || saved === logged - 1, `saved ${saved}, logged ${logged}`);
      const TOTAL = saved + 3;

      const whole = await uninterrupted(ARGS, TOTAL, "killed-whole");
      const rest = await resumed(
        [...ARGS, "--checkpoint", checkpoint],
        checkpoint,
        TOTAL,
        "killed",
      );
      assert.equal(rest.model, whole.model);
      assert.equal(readCheckpoint(checkpoint).epoch, TOTAL, "the resumed run kept checkpointing");
    },
  );

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(
      `${signal}: exits ${code} within seconds, saving the last completed epoch to resume from`,
      SLOW,
      async () => {
        const checkpoint = join(dir, `${signal}.ckpt`);
        const running = startCli("train", [
          ...ARGS,
          "--epochs",
          "100000",
          "--checkpoint",
          checkpoint,
        ]);
        await waitFor(() => epochs(running.stdout()).length >= 2, 60_000);
        const sent = performance.now();
        // Not child.kill: Deno's child_process then reports the signal instead of the exit status.
        process.kill(running.child.pid!, signal);
        const r = await running.done;
        const exitMs = performance.now() - sent;
        assert.equal(r.code, code, r.stderr);
        assert.ok(exitMs < 5000, `took ${exitMs} ms to exit`);
        const logged = epochs(r.stdout).length;
        assert.equal(
          r.stderr,
          `note: stopped by signal; workers terminated; ${checkpoint} holds epoch ${logged}\n`,
        );
        assert.equal(readCheckpoint(checkpoint).epoch, logged);

        const total = logged + 2;
        const whole = await uninterrupted(ARGS, total, `${signal}-whole`);
        const rest = await resumed(ARGS, checkpoint, total, signal);
        assert.equal(rest.model, whole.model);
      },
    );
  }
});
