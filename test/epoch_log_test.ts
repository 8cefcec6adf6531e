import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatDuration, progressBar } from "../src/cli/epoch_log.ts";
import { runCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-epoch-log-"));
const BC = ["--data", "data/breast_cancer.csv", "--val-split", "0.2", "--workers", "0"];

describe("progress and the done line", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the live bar shows elapsed time, time left, epochs/s and the latest metrics", () => {
    const line = progressBar(
      { epoch: 60, loss: 0.25, accuracy: 0.9, valLoss: 0.3, valAccuracy: 0.85, ms: 10 },
      100,
      2000,
      40,
    );
    assert.equal(
      line,
      "[##################............] 60/100  2 s elapsed, 2 s left, 20 epochs/s  " +
        "loss 0.2500 acc 0.9000  val loss 0.3000 acc 0.8500",
    );
    assert.match(progressBar({ epoch: 1, loss: 1, accuracy: 0.5, ms: 0 }, 10, 0, 1), /\? left/);
  });

  it("formats durations for people", () => {
    assert.equal(formatDuration(41_600), "42 s");
    assert.equal(formatDuration(185_000), "3 min 05 s");
    assert.equal(formatDuration(3_720_000), "1 h 02 min");
  });

  it("names validation metrics and the files written; after --resume, the epochs run", async () => {
    const ckpt = join(dir, "run.ckpt");
    const out = join(dir, "model.json");
    const first = await runCli("train", [
      ...BC,
      "--epochs",
      "6",
      "--checkpoint",
      ckpt,
      "--out",
      out,
    ]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      new RegExp(
        `^done: 6 epochs in .*; final loss \\d\\.\\d{6}, accuracy \\d\\.\\d{4}, val loss ` +
          `\\d\\.\\d{6}, val accuracy \\d\\.\\d{4}; training precision .*; validation ` +
          `precision .*; model in ${out}, checkpoint in ${ckpt}$`,
        "m",
      ),
    );
    const resumed = await runCli("train", [
      ...[...BC, "--epochs", "10", "--resume", ckpt, "--checkpoint", ckpt, "--log-format", "json"],
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const lines = resumed.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const done = lines.at(-1);
    const last = lines.at(-2);
    assert.equal(lines.length, 5);
    assert.equal(done.event, "done");
    assert.equal(done.epochs, 10);
    assert.equal(done.epochs_run, 4);
    assert.equal(done.resumed_from, 6);
    assert.equal(done.val_loss, last.val_loss);
    assert.equal(done.val_accuracy, last.val_accuracy);
    assert.equal(done.checkpoint, ckpt);
    assert.equal(done.out, undefined);
    const text = await runCli("train", [...BC, "--epochs", "12", "--resume", ckpt]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^done: 2 epochs \(11–12 of 12, resumed from epoch 10\) in /m);
  });

  it("--help says at which parameters each metric is measured", async () => {
    const r = await runCli("train", ["--help"]);
    assert.match(
      r.stdout.replaceAll("\n", " "),
      /validation loss and accuracy are measured after the epoch's last step/,
    );
  });
});
