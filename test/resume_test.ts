import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Checkpoint, RunConfig } from "../src/checkpoint/checkpoint.ts";
import { resumeState } from "../src/checkpoint/resume.ts";
import { DataError, UsageError } from "../src/errors.ts";

const CONFIG: RunConfig = {
  data: "data/a.csv",
  samples: 100,
  features: 3,
  hidden: 2,
  lr: 0.5,
  seed: 1,
  batchSize: 32,
  dtype: "f32",
  standardize: "zscore",
  valSplit: 0.1,
  epochs: 10,
  backend: "js",
};
const FINGERPRINT = "0123456789abcdef";
const CHECKPOINT: Checkpoint = {
  epoch: 4,
  steps: 16,
  params: new Float64Array(13).fill(0.25),
  shuffleState: [1, 2, 3, 4],
  loss: 0.5,
  config: CONFIG,
  standardization: null,
  dataFingerprint: FINGERPRINT,
};

function resumeWith(change: Partial<RunConfig>, fingerprint = FINGERPRINT) {
  return resumeState(CHECKPOINT, { ...CONFIG, ...change }, fingerprint, "run.ckpt");
}

describe("resumeState", () => {
  it("continues from the checkpoint's epoch, parameters and shuffle state", () => {
    const { state, notes } = resumeWith({ epochs: 30 });
    assert.deepEqual(state, { epoch: 4, params: CHECKPOINT.params, shuffleState: [1, 2, 3, 4] });
    assert.deepEqual(notes, []);
  });

  it("refuses a different setting, naming the flag and both values", () => {
    const cases: [Partial<RunConfig>, string][] = [
      [{ valSplit: 0.2 }, "--val-split differs: the checkpoint has 0.1, this run 0.2"],
      [{ standardize: "none" }, "--standardize differs: the checkpoint has zscore, this run none"],
      [{ dtype: "f64" }, "--dtype differs: the checkpoint has f32, this run f64"],
      [{ hidden: 3 }, "--hidden differs: the checkpoint has 2, this run 3"],
      [{ seed: 2 }, "--seed differs: the checkpoint has 1, this run 2"],
      [{ lr: 0.05 }, "--lr differs: the checkpoint has 0.5, this run 0.05"],
      [{ batchSize: 100 }, "--batch-size differs: the checkpoint has 32, this run 100"],
    ];
    for (const [change, message] of cases) {
      assert.throws(
        () => resumeWith(change),
        (e: unknown) => e instanceof DataError && e.message === `--resume run.ckpt: ${message}`,
        message,
      );
    }
  });

  it("refuses other data, describing both data sets", () => {
    assert.throws(
      () => resumeWith({ data: "data/b.csv" }, "fedcba9876543210"),
      (e: unknown) =>
        e instanceof DataError &&
        e.message ===
          "--resume run.ckpt: the data differs: the checkpoint has data/a.csv (100 rows × 3 " +
            "features, fingerprint 0123456789abcdef), this run data/b.csv (100 rows × 3 " +
            "features, fingerprint fedcba9876543210)",
    );
  });

  it("accepts the same rows from another path", () => {
    assert.equal(resumeWith({ data: "elsewhere/a.csv" }).state.epoch, 4);
  });

  it("wants --epochs, the total, to be more than the epochs done", () => {
    assert.throws(
      () => resumeWith({ epochs: 4 }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          "--epochs 4: run.ckpt already holds 4 epochs; --epochs is the total, so give more than 4",
    );
  });

  it("continues on another backend, with a note that the bits will differ", () => {
    const { notes } = resumeWith({ backend: "wasm" });
    assert.deepEqual(notes, [
      "run.ckpt was trained with the js backend, this run uses wasm: training continues, but " +
      "not bit-identical to an uninterrupted run",
    ]);
  });
});
