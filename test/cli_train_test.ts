import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./run_cli.ts";

const ORACLE = "test/oracle/breast_cancer_h8";
const BREAST_CANCER = "data/breast_cancer.csv";

function parseJsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split("\n").map((line) => JSON.parse(line));
}

describe("train command", () => {
  it("runs the default configuration to at least 0.9 accuracy", async () => {
    const r = await runCli("train", ["--log-format", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const done = parseJsonLines(r.stdout).at(-1)!;
    assert.equal(done.event, "done");
    assert.ok((done.accuracy as number) >= 0.9, `accuracy ${done.accuracy}`);
  });

  it("prints readable epoch lines and a summary in text mode", async () => {
    const r = await runCli("train", ["--data", BREAST_CANCER, "--epochs", "10", "--workers", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^epoch +1\/10 +loss \d+\.\d+ +acc \d\.\d+/m);
    assert.match(r.stdout, /^epoch 10\/10 /m);
    assert.match(r.stdout, /^done: 10 epochs in .* 2 workers/m);
  });

  it("logs one JSON object per epoch and a done line, and nothing else on stdout", async () => {
    const r = await runCli("train", [
      ...["--data", BREAST_CANCER, "--epochs", "4", "--val-split", "0.2", "--log-format", "json"],
      ...["--workers", "2"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = parseJsonLines(r.stdout);
    assert.equal(lines.length, 5);
    lines.slice(0, 4).forEach((line, e) => {
      assert.deepEqual(Object.keys(line), [
        "event",
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "ms",
      ]);
      assert.equal(line.event, "epoch");
      assert.equal(line.epoch, e + 1);
      for (const key of ["loss", "accuracy", "val_loss", "val_accuracy", "ms"]) {
        assert.equal(typeof line[key], "number", key);
      }
    });
    const done = lines[4];
    assert.deepEqual(Object.keys(done), [
      "event",
      "epochs",
      "epochs_run",
      "ms",
      "loss",
      "accuracy",
      "val_loss",
      "val_accuracy",
      "engine",
      "workers",
      "backend",
      "kernel_variant",
      "samples_per_s",
      "precision",
      "recall",
      "f1",
      "roc_auc",
      "val_precision",
      "val_recall",
      "val_f1",
      "val_roc_auc",
    ]);
    for (const key of ["precision", "recall", "f1", "roc_auc"]) {
      for (const name of [key, `val_${key}`]) {
        const value = done[name] as number;
        assert.ok(value >= 0 && value <= 1, name);
      }
    }
    assert.equal(done.epochs, 4);
    assert.equal(done.workers, 2);
    assert.equal(done.loss, lines[3].loss);
    assert.equal(done.val_loss, lines[3].val_loss);
  });

  it("omits the validation fields without a split", async () => {
    const r = await runCli("train", [
      "--data",
      BREAST_CANCER,
      "--epochs",
      "2",
      "--log-format",
      "json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(parseJsonLines(r.stdout)[0]), [
      "event",
      "epoch",
      "loss",
      "accuracy",
      "ms",
    ]);
  });

  it("reproduces the oracle through --init and --out, and --out reads back as --init", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardnet-cli-"));
    const out = join(dir, "model.json");
    const common = [
      "--data",
      BREAST_CANCER,
      "--dtype",
      "f64",
      "--lr",
      "0.5",
      "--log-format",
      "json",
    ];
    const r = await runCli("train", [
      ...common,
      ...["--init", `${ORACLE}/init.json`, "--epochs", "20", "--workers", "2", "--out", out],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const expected = JSON.parse(readFileSync(`${ORACLE}/expected.json`, "utf8"));
    const losses = parseJsonLines(r.stdout).filter((l) => l.event === "epoch").map((l) => l.loss);
    losses.forEach((loss, e) =>
      assert.ok(Math.abs((loss as number) / expected.losses[e] - 1) < 1e-10, `epoch ${e + 1}`)
    );
    const model = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(model.hidden, 8);
    assert.equal(model.features, 30);
    assert.equal(model.standardize.mean.length, 30);
    model.W1.forEach((row: number[], j: number) =>
      row.forEach((w, k) => assert.ok(Math.abs(w - expected.final.W1[j][k]) < 1e-9))
    );
    assert.ok(Math.abs(model.b2 - expected.final.b2) < 1e-9);

    // Continuing from the written file is the same as 21 epochs from the oracle's start.
    const continued = join(dir, "continued.json");
    const oneMore = await runCli("train", [
      ...common,
      ...["--init", out, "--epochs", "1", "--workers", "0", "--standardize", "zscore"],
      ...["--out", continued],
    ]);
    assert.equal(oneMore.code, 0, oneMore.stderr);
    const first = parseJsonLines(oneMore.stdout)[0];
    const fromOracle = await runCli("train", [
      ...common,
      ...["--init", `${ORACLE}/init.json`, "--epochs", "21", "--workers", "0"],
    ]);
    const epoch21 = parseJsonLines(fromOracle.stdout).filter((l) => l.event === "epoch")[20];
    assert.equal(first.loss, epoch21.loss);
  });
});
