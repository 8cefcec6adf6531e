import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Checkpoint, readCheckpoint, type RunConfig } from "../src/checkpoint/checkpoint.ts";
import { CheckpointPolicy, SAVE_INTERVAL_MS } from "../src/checkpoint/checkpoint_policy.ts";
import type { EpochReport, TrainState } from "../src/train/train.ts";

const CONFIG: RunConfig = {
  data: "xor",
  samples: 10,
  features: 2,
  hidden: 1,
  lr: 0.5,
  seed: 1,
  batchSize: 4,
  dtype: "f64",
  standardize: "none",
  valSplit: 0,
  epochs: 20,
  backend: "js",
};

/** A policy on a fake clock, and a way to end epochs on it. */
function setUp(every?: number, resumedFrom?: Checkpoint) {
  const path = join(mkdtempSync(join(tmpdir(), "shardnet-policy-")), "run.ckpt");
  let clock = 0;
  const policy = new CheckpointPolicy({
    path,
    ...(every !== undefined ? { every } : {}),
    config: CONFIG,
    dataFingerprint: "00000000000000ff",
    standardization: null,
    stepsPerEpoch: 3,
    ...(resumedFrom ? { resumedFrom } : {}),
    now: () => clock,
  });
  /** Ends `epoch` after `ms` more milliseconds; returns the epoch on disk afterwards. */
  const endEpoch = (epoch: number, ms = 1): number | undefined => {
    clock += ms;
    const report: EpochReport = { epoch, loss: 1 / epoch, accuracy: 0.5, ms };
    const state: TrainState = {
      epoch,
      params: Float64Array.of(epoch, 0, 0, 0, 0),
      shuffleState: [epoch, 2, 3, 4],
    };
    policy.epoch(report, () => state);
    return onDisk();
  };
  const onDisk = () => existsSync(path) ? readCheckpoint(path).epoch : undefined;
  return { path, policy, endEpoch, onDisk };
}

describe("CheckpointPolicy", () => {
  it("with --checkpoint-every K saves after epochs that are multiples of K, and on flush", () => {
    const { policy, endEpoch } = setUp(3);
    const saved = [1, 2, 3, 4, 5, 6, 7].map((epoch) => endEpoch(epoch));
    assert.deepEqual(saved, [undefined, undefined, 3, 3, 3, 6, 6]);
    assert.equal(policy.flush(), 7);
  });

  it("by default saves an epoch that ends the save interval after the last save", () => {
    const { endEpoch } = setUp();
    const ms = SAVE_INTERVAL_MS / 2.5;
    const saved = [1, 2, 3, 4, 5, 6].map((epoch) => endEpoch(epoch, ms));
    assert.deepEqual(saved, [undefined, undefined, 3, 3, 3, 6]);
  });

  it("records steps, loss and the run's configuration with the state", () => {
    const { path, policy, endEpoch } = setUp(1);
    endEpoch(4);
    const c = readCheckpoint(path);
    assert.deepEqual(
      { epoch: c.epoch, steps: c.steps, loss: c.loss, state: c.shuffleState },
      { epoch: 4, steps: 12, loss: 0.25, state: [4, 2, 3, 4] },
    );
    assert.deepEqual(c.config, CONFIG);
    assert.equal(c.dataFingerprint, "00000000000000ff");
    assert.equal(policy.flush(), 4);
  });

  it("flushes nothing before the first epoch, and does not rewrite what is on disk", () => {
    const { path, policy, endEpoch } = setUp(2);
    assert.equal(policy.flush(), undefined);
    assert.ok(!existsSync(path));
    endEpoch(2);
    rmSync(path);
    assert.equal(policy.flush(), 2);
    assert.ok(!existsSync(path), "epoch 2 was already written once");
  });

  it("after --resume, a stop before the first new epoch still leaves the resumed state", () => {
    const first = setUp(1);
    first.endEpoch(5);
    const resumed = readCheckpoint(first.path);
    const { path, policy } = setUp(1, resumed);
    assert.equal(policy.flush(), 5);
    assert.deepEqual(readCheckpoint(path).params, resumed.params);
  });
});
