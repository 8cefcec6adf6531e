import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Checkpoint, RunConfig } from "../src/checkpoint/checkpoint.ts";
import { resumeState } from "../src/checkpoint/resume.ts";
import { DataError, UsageError } from "../src/errors.ts";
import { optimizerConfig } from "../src/core/optimizer.ts";

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
    assert.deepEqual(state, {
      epoch: 4,
      params: CHECKPOINT.params,
      shuffleState: [1, 2, 3, 4],
      steps: 16,
      optimizerState: new Float64Array(0),
    });
    assert.deepEqual(notes, []);
  });

  const COSINE = { kind: "cosine", stepEpochs: 0, gamma: 1, minLearningRate: 0, warmupEpochs: 2 };

  it("takes a checkpoint without optimizer or schedule as plain sgd at a constant rate", () => {
    const { state } = resumeWith({
      optimizer: optimizerConfig({ kind: "sgd" }),
      lrSchedule: {
        kind: "constant",
        stepEpochs: 0,
        gamma: 1,
        minLearningRate: 0,
        warmupEpochs: 0,
      },
    });
    assert.equal(state.epoch, 4);
  });

  it("refuses another optimizer or schedule in one line naming both", () => {
    assert.throws(
      () => resumeWith({ optimizer: optimizerConfig({ kind: "adam" }) }),
      (e: unknown) =>
        e instanceof DataError &&
        e.message === "resume run.ckpt: the optimizer differs: the checkpoint has sgd " +
            "(momentum 0, weight decay 0), this run adam (beta1 0.9, beta2 0.999, eps 1e-8, " +
            "weight decay 0)",
    );
    assert.throws(
      () => resumeWith({ optimizer: optimizerConfig({ momentum: 0.5, nesterov: true }) }),
      /the optimizer differs: .*this run sgd \(momentum 0\.5, nesterov, weight decay 0\)$/,
    );
    assert.throws(
      () => resumeWith({ lrSchedule: { ...COSINE, kind: "cosine" } as const }),
      (e: unknown) =>
        e instanceof DataError &&
        e.message === "resume run.ckpt: the learning-rate schedule differs: the checkpoint " +
            "has constant (warm-up 0 epochs), this run cosine (min 0, warm-up 2 epochs)",
    );
  });

  it("keeps the epochs with the cosine schedule, whose curve spans them", () => {
    const cosine = { ...CHECKPOINT, config: { ...CONFIG, lrSchedule: COSINE } } as Checkpoint;
    const resume = (epochs: number) =>
      resumeState(cosine, { ...CONFIG, lrSchedule: COSINE, epochs } as RunConfig, FINGERPRINT, "r");
    assert.equal(resume(10).state.epoch, 4);
    assert.throws(
      () => resume(20),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === "epochs 20: the cosine schedule of r spans 10 epochs; resume it with " +
            "epochs 10",
    );
  });

  it("refuses a different setting, naming the option and both values", () => {
    const cases: [Partial<RunConfig>, string][] = [
      [{ valSplit: 0.2 }, "valSplit differs: the checkpoint has 0.1, this run 0.2"],
      [{ standardize: "none" }, "standardize differs: the checkpoint has zscore, this run none"],
      [{ dtype: "f64" }, "dtype differs: the checkpoint has f32, this run f64"],
      [{ hidden: 3 }, "hidden differs: the checkpoint has 2, this run 3"],
      [{ seed: 2 }, "seed differs: the checkpoint has 1, this run 2"],
      [{ lr: 0.05 }, "learningRate differs: the checkpoint has 0.5, this run 0.05"],
      [{ batchSize: 100 }, "batchSize differs: the checkpoint has 32, this run 100"],
    ];
    for (const [change, message] of cases) {
      assert.throws(
        () => resumeWith(change),
        (e: unknown) => e instanceof DataError && e.message === `resume run.ckpt: ${message}`,
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
          "resume run.ckpt: the data differs: the checkpoint has data/a.csv (100 rows × 3 " +
            "features, fingerprint 0123456789abcdef), this run data/b.csv (100 rows × 3 " +
            "features, fingerprint fedcba9876543210)",
    );
  });

  it("accepts the same rows from another path", () => {
    assert.equal(resumeWith({ data: "elsewhere/a.csv" }).state.epoch, 4);
  });

  it("wants epochs, the total, to be more than the epochs done", () => {
    assert.throws(
      () => resumeWith({ epochs: 4 }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          "epochs 4: run.ckpt already holds 4 epochs; epochs is the total, so give more than 4",
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
