import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { runCli } from "./run_cli.ts";

const BC = ["--data", "data/breast_cancer.csv"];
/** Bun ignores bunfig's timeout for node:test tests; these spawn several runs each. */
const SLOW = { timeout: 120_000 };

/** Each case: flags, and what the one line on stderr must say. */
const BAD: [string[], RegExp][] = [
  [["--nesterov"], /^train: --nesterov needs --momentum > 0$/],
  [["--optimizer", "adam", "--beta2", "1"], /^train: --beta2: expected a number ≥ 0 and < 1/],
  [["--optimizer", "adam", "--momentum", "0.9"], /^train: --momentum applies to sgd only/],
  [["--beta1", "0.8"], /^train: --beta1 applies to adam and adamw only, not to sgd$/],
  [["--optimizer", "rmsprop"], /^train: --optimizer: expected one of sgd, adam, adamw/],
  [["--optimizer", "adamw", "--eps", "0"], /^train: --eps: expected a number > 0, got 0$/],
  [["--weight-decay", "-1"], /^train: --weight-decay: expected a number ≥ 0, got -1$/],
  [["--lr-gamma", "0.5"], /^train: --lr-gamma applies to the step and exponential schedule/],
  [["--lr-step", "3"], /^train: --lr-step applies to the step schedule only/],
  [["--lr-min", "0.01"], /^train: --lr-min applies to the cosine schedule only/],
  [["--lr-schedule", "step"], /^train: the step schedule needs --lr-step$/],
  [["--lr-schedule", "exponential"], /^train: the exponential schedule needs --lr-gamma$/],
  [
    ["--lr-schedule", "cosine", "--lr-min", "1", "--lr", "0.1"],
    /^train: --lr-min: expected a number ≥ 0 and ≤ --lr 0\.1, got 1$/,
  ],
  [["--early-stopping", "3"], /^train: --early-stopping: needs --val-split/],
  [["--min-delta", "0.1"], /^train: --min-delta: only with --early-stopping$/],
  [["--early-stopping", "0", "--val-split", "0.2"], /^train: --early-stopping: expected an/],
];

describe("train: optimizer, schedule and early-stopping flags", () => {
  for (const [args, message] of BAD) {
    it(`${args.join(" ")} exits 2 with one line`, SLOW, async () => {
      const r = await runCli("train", [...BC, "--epochs", "2", ...args]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
      assert.equal(r.stdout, "");
    });
  }

  it(
    "resumes adam with a step schedule byte-identically; refuses another optimizer or schedule",
    SLOW,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "shardnet-optim-"));
      try {
        const args = [
          ...BC,
          ...["--hidden", "6", "--batch-size", "100", "--optimizer", "adam", "--lr", "0.01"],
          ...["--lr-schedule", "step", "--lr-step", "3", "--lr-gamma", "0.5"],
          ...["--warmup-epochs", "2", "--log-format", "json"],
        ];
        const whole = join(dir, "whole.json");
        const r = await runCli("train", [
          ...args,
          "--epochs",
          "8",
          "--workers",
          "2",
          "--out",
          whole,
        ]);
        assert.equal(r.code, 0, r.stderr);
        for (const k of [1, 4]) {
          const checkpoint = join(dir, `k${k}.ckpt`);
          const first = await runCli("train", [
            ...[...args, "--epochs", String(k), "--workers", "3", "--checkpoint", checkpoint],
          ]);
          assert.equal(first.code, 0, first.stderr);
          const saved = readCheckpoint(checkpoint);
          assert.equal(saved.config.optimizer?.kind, "adam");
          assert.equal(saved.steps, 6 * k);
          assert.equal(saved.optimizerState?.length, 2 * saved.params.length);
          const rest = join(dir, `rest${k}.json`);
          const resumed = await runCli("train", [
            ...[...args, "--epochs", "8", "--workers", "0", "--resume", checkpoint, "--out", rest],
          ]);
          assert.equal(resumed.code, 0, resumed.stderr);
          assert.equal(readFileSync(rest, "utf8"), readFileSync(whole, "utf8"), `stopped at ${k}`);
        }
        const checkpoint = join(dir, "k4.ckpt");
        const other = await runCli("train", [
          ...args.map((a) => a === "adam" ? "adamw" : a),
          ...["--resume", checkpoint, "--epochs", "9"],
        ]);
        assert.equal(other.code, 1, other.stderr);
        assert.equal(other.stderr.trim().split("\n").length, 1, other.stderr);
        assert.match(other.stderr, /: the optimizer differs: the checkpoint has adam \(.*adamw \(/);
        const schedule = await runCli("train", [
          ...args.map((a) => a === "0.5" ? "0.25" : a),
          ...["--resume", checkpoint, "--epochs", "9"],
        ]);
        assert.equal(schedule.code, 1, schedule.stderr);
        assert.equal(schedule.stderr.trim().split("\n").length, 1, schedule.stderr);
        assert.match(
          schedule.stderr,
          /: the learning-rate schedule differs: .*gamma 0\.5.*gamma 0\.25/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("early stopping writes the best epoch's parameters to --out and names it", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardnet-optim-"));
    try {
      const out = join(dir, "best.json");
      const r = await runCli("train", [
        ...BC,
        ...["--hidden", "16", "--optimizer", "adam", "--lr", "0.05", "--epochs", "400"],
        ...["--val-split", "0.2", "--early-stopping", "5", "--min-delta", "0.0001"],
        ...["--log-format", "json", "--out", out, "--checkpoint", join(dir, "run.ckpt")],
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n").map((line) => JSON.parse(line));
      const done = lines.at(-1);
      const epochs = lines.filter((line) => line.event === "epoch");
      assert.equal(done.stopped_early, true);
      assert.equal(epochs.length, done.best_epoch + 5);
      assert.equal(done.epochs_run, epochs.length);
      assert.equal(epochs[done.best_epoch - 1].val_loss, done.best_val_loss);
      // The model file holds the best epoch's parameters, as the checkpoint records them.
      const best = readCheckpoint(join(dir, "run.ckpt")).best!;
      assert.equal(best.epoch, done.best_epoch);
      const model = JSON.parse(readFileSync(out, "utf8"));
      const params = [model.W1, model.b1, model.W2, model.b2].flat(2);
      assert.deepEqual(params, Array.from(best.params));
      for (const key of ["precision", "recall", "f1", "roc_auc"]) {
        assert.equal(typeof done[key], "number", key);
        assert.equal(typeof done[`val_${key}`], "number", key);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the text done line names the metrics and the best epoch", SLOW, async () => {
    const r = await runCli("train", [
      ...BC,
      ...["--hidden", "4", "--epochs", "30", "--val-split", "0.2", "--early-stopping", "50"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /; training precision [\d.]+, recall [\d.]+, F1 [\d.]+, ROC AUC [\d.]+; validation precision [\d.]+, recall [\d.]+, F1 [\d.]+, ROC AUC [\d.]+; best epoch \d+ \(val loss [\d.]+\), its parameters kept\n$/,
    );
  });
});
