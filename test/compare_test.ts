import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffRuns, parameterName } from "../src/bench/run_diff.ts";
import { comparisonRows, comparisonText } from "../src/cli/compare_command.ts";
import { classificationMetrics } from "../src/model/metrics.ts";
import type { TrainResult } from "../src/train/train.ts";
import { runCli } from "./run_cli.ts";

/** These tests spawn the real program; `bun test` would stop them after its default 5 s. */
const SPAWN_TIMEOUT_MS = 60_000;

const BREAST_CANCER = "data/breast_cancer.csv";

/** A finished run with these losses and parameters (n = 2 features, h = 1 hidden unit). */
function result(losses: number[], params: number[], workers: number): TrainResult {
  return {
    model: { features: 2, hidden: 1, params: Float64Array.from(params) },
    history: losses.map((loss, i) => ({ epoch: i + 1, loss, accuracy: 0.5, ms: 1 })),
    ms: losses.length,
    engine: workers === 0 ? "local" : "threads",
    workers,
    backend: "js",
    kernelVariant: null,
    samplesPerSecond: 1,
    steps: losses.length,
    stoppedEarly: false,
    metrics: {
      training: classificationMetrics(new Float64Array([0.9, 0.1]), new Float64Array([1, 0])),
      validation: null,
    },
    phaseMs: [[0, 0, 0]],
  };
}

describe("compare command", () => {
  it("finds single-thread and sharded training bit-identical on breast cancer and exits 0", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const r = await runCli("compare", [
      ...["--data", BREAST_CANCER, "--workers", "3", "--epochs", "40", "--hidden", "8"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^final parameters are bit-identical: yes$/m);
    assert.match(r.stdout, /^largest \|Δ parameter\|: 0 over 257 parameters$/m);
    assert.match(r.stdout, /^loss curves: identical in all 40 epochs$/m);
  });

  it("compares each count of a comma list with the one single-thread run, a row each", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const r = await runCli("compare", [
      ...["--data", BREAST_CANCER, "--workers", "1,3,1", "--epochs", "20", "--hidden", "4"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "single-thread (--workers 0) vs sharded (--workers 1, 3)");
    assert.match(lines[4], /^workers {2}bit-identical {2}first loss difference/);
    assert.match(lines[5], /^ {6}1 {2}yes {12}none {19}0 /);
    assert.match(lines[6], /^ {6}3 {2}yes {12}none {19}0 /);
    assert.match(r.stdout, /^final parameters are bit-identical: yes \(2 of 2 worker counts\)$/m);
    assert.equal(r.stderr.match(/training with --workers 0/g)?.length, 1, r.stderr);
  });

  it("prints the configuration, the two loss curves side by side, and the verdict", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const r = await runCli("compare", [
      ...["--data", BREAST_CANCER, "--workers", "2", "--epochs", "60", "--hidden", "4"],
      ...["--dtype", "f64"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "single-thread (--workers 0) vs sharded (--workers 2)");
    assert.match(
      lines[1],
      /^data\/breast_cancer\.csv, 569 rows × 30 features, 4 hidden units, f64, full batch, 60 epochs, (js|wasm \(relaxed\)|blas \(plain\)) backend$/,
    );
    assert.equal(lines[2], "");
    assert.match(lines[3], /^epoch +loss, workers 0 +loss, workers 2 +difference$/);
    const rows = lines.slice(4, lines.indexOf("", 4));
    assert.equal(rows.length, 21, "epoch 1, then every 3rd epoch to 60");
    for (const row of rows) {
      const [epoch, a, b, difference] = row.trim().split(/ +/);
      assert.ok(Number(epoch) >= 1 && Number(epoch) <= 60, row);
      assert.equal(a, b, row);
      assert.equal(difference, "0", row);
    }
    assert.match(rows[0], /^ +1 /);
    assert.match(rows.at(-1)!, /^ +60 /);
    assert.match(
      r.stdout,
      /^time: \d+\.\d\d s single-thread, \d+\.\d\d s sharded \(speedup \d+\.\d\d×\)$/m,
    );
    assert.match(r.stderr, /training with --workers 0/);
  });

  it("rejects --workers 0 and flags that only train writes, in one line with status 2", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    for (
      const args of [
        ["--workers", "0"],
        ["--workers", "2,0"],
        ["--workers", "2,x"],
        ["--out", "model.json"],
        ["--log-format", "json"],
      ]
    ) {
      const r = await runCli("compare", args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /^compare: --(workers|out|log-format)/);
    }
  });
});

describe("diffRuns", () => {
  it("reports identical runs as bit-identical with no difference", () => {
    const a = result([0.7, 0.5], [1, 2, 3, 4, 5, 6], 0);
    const b = result([0.7, 0.5], [1, 2, 3, 4, 5, 6], 3);
    const d = diffRuns(a, b);
    assert.equal(d.bitIdentical, true);
    assert.equal(d.maxParamDifference, 0);
    assert.equal(d.maxParamIndex, null);
    assert.equal(d.firstLossDifference, null);
  });

  it("names the largest parameter difference and the first differing epoch", () => {
    const a = result([0.7, 0.5, 0.4], [1, 2, 3, 4, 5, 6], 0);
    const b = result([0.7, 0.5000001, 0.4], [1, 2, 3, 4.5, 5, 6], 3);
    const d = diffRuns(a, b);
    assert.equal(d.bitIdentical, false);
    assert.equal(d.maxParamIndex, 3);
    assert.equal(d.maxParamDifference, 0.5);
    assert.equal(d.firstLossDifference, 2);
    const text = comparisonText("xor", a, b, d);
    assert.match(text, /^final parameters are bit-identical: no$/m);
    assert.match(text, /^largest \|Δ parameter\|: 5\.000e-1 at W2\[0\], over 6 parameters$/m);
    assert.match(text, /^loss curves: first differ at epoch 2; largest \|Δ loss\| 1\.000e-7$/m);
  });

  it("writes a row per worker count, and no when any differs", () => {
    const a = result([0.7, 0.5], [1, 2, 3, 4, 5, 6], 0);
    const same = result([0.7, 0.5], [1, 2, 3, 4, 5, 6], 2);
    const other = result([0.7, 0.6], [1, 2, 3, 4, 5, 6.25], 4);
    const text = comparisonRows("xor", a, [
      { sharded: same, diff: diffRuns(a, same) },
      { sharded: other, diff: diffRuns(a, other) },
    ]);
    const lines = text.split("\n");
    assert.equal(lines[0], "single-thread (--workers 0) vs sharded (--workers 2, 4)");
    assert.match(lines[5], /^ {6}2 {2}yes {12}none {19}0 /);
    assert.match(lines[6], /^ {6}4 {2}no {13}epoch 2 {16}2\.500e-1 at b2 /);
    assert.match(text, /^final parameters are bit-identical: no \(1 of 2 worker counts\)$/m);
  });

  it("tells 0 from -0: bit-identical means the same bits", () => {
    const d = diffRuns(result([0.7], [0, 1, 2, 3, 4, 5], 0), result([0.7], [-0, 1, 2, 3, 4, 5], 2));
    assert.equal(d.bitIdentical, false);
    assert.equal(d.maxParamIndex, 0);
  });

  it("names parameters in the layout W1 | b1 | W2 | b2", () => {
    assert.equal(parameterName(33, 30, 8), "W1[1,3]");
    assert.equal(parameterName(240, 30, 8), "b1[0]");
    assert.equal(parameterName(255, 30, 8), "W2[7]");
    assert.equal(parameterName(256, 30, 8), "b2");
  });
});
