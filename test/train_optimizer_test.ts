import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { OptimizerOptions } from "../src/core/optimizer.ts";
import { readCsv } from "../src/data/csv.ts";
import { generate } from "../src/data/generators.ts";
import { splitValidation } from "../src/data/split.ts";
import { modelFromJson } from "../src/model/model_file.ts";
import type { LrScheduleOptions } from "../src/train/lr_schedule.ts";
import { train, type TrainOptions, type TrainState } from "../src/train/train.ts";

/** test/fixtures/optim/reference.json, written by scripts/torch_optim_reference.py. */
interface Reference {
  data: string;
  init: string;
  cases: {
    name: string;
    learningRate: number;
    epochs: number;
    optimizer: OptimizerOptions;
    schedule: LrScheduleOptions;
    losses: number[];
    final: number[];
  }[];
}

const ROOT = new URL("../", import.meta.url);
const reference: Reference = JSON.parse(
  readFileSync(new URL("test/fixtures/optim/reference.json", ROOT), "utf8"),
);
const breastCancer = readCsv(new URL(reference.data, ROOT).pathname);
const initPath = new URL(reference.init, ROOT).pathname;
const init = modelFromJson(readFileSync(initPath, "utf8"), initPath);

/** Worker threads start slowly on a loaded machine; a run here takes well under a second quiet. */
const TIMEOUT = 120_000;

const OPTIMIZERS: readonly OptimizerOptions[] = [
  {},
  { momentum: 0.9 },
  { momentum: 0.9, nesterov: true, weightDecay: 0.01 },
  { kind: "adam", weightDecay: 0.001 },
  { kind: "adamw" },
];

function bits(params: Float64Array, losses: number[]): string {
  return JSON.stringify([Array.from(params), losses]);
}

describe("train() with an optimizer and a schedule", () => {
  for (const c of reference.cases) {
    for (const workers of [0, 3]) {
      it(`reproduces PyTorch's ${c.name} at workers ${workers}`, { timeout: TIMEOUT }, async () => {
        const result = await train(breastCancer, {
          epochs: c.epochs,
          learningRate: c.learningRate,
          optimizer: c.optimizer,
          lrSchedule: c.schedule,
          init,
          dtype: "f64",
          workers,
        });
        c.losses.forEach((loss, e) => {
          const got = result.history[e].loss;
          assert.ok(Math.abs(got - loss) / loss < 1e-10, `epoch ${e}: ${got}, torch ${loss}`);
        });
        c.final.forEach((w, i) =>
          assert.ok(Math.abs(result.model.params[i] - w) < 1e-9, `parameter ${i}`)
        );
      });
    }
  }

  const data = generate("circles", 600, 5, 2);
  for (const optimizer of OPTIMIZERS) {
    for (const batchSize of [600, 64]) {
      const label = `${JSON.stringify(optimizer)}, batches of ${batchSize}`;
      it(`is bit-identical across workers 0, 1, 2, 3, 8: ${label}`, {
        timeout: TIMEOUT,
      }, async () => {
        const runs: string[] = [];
        for (const workers of [0, 1, 2, 3, 8]) {
          const r = await train(data, {
            epochs: 4,
            hidden: 7,
            learningRate: optimizer.kind ? 0.01 : 0.3,
            batchSize,
            optimizer,
            lrSchedule: { kind: "cosine", warmupEpochs: 2 },
            workers,
          });
          runs.push(bits(r.model.params, r.history.map((h) => h.loss)));
        }
        for (const run of runs.slice(1)) assert.equal(run, runs[0]);
      });
    }
  }

  it("keeps plain descent's bits: sgd without momentum is the design's update", async () => {
    // A constant schedule and sgd are the defaults; spelling them out changes nothing.
    const plain = await train(data, { epochs: 3, hidden: 5 });
    const spelled = await train(data, {
      epochs: 3,
      hidden: 5,
      optimizer: { kind: "sgd", momentum: 0, weightDecay: 0 },
      lrSchedule: { kind: "constant" },
    });
    assert.equal(
      bits(spelled.model.params, spelled.history.map((h) => h.loss)),
      bits(plain.model.params, plain.history.map((h) => h.loss)),
    );
  });

  const schedules: readonly LrScheduleOptions[] = [
    { kind: "constant" },
    { kind: "step", stepEpochs: 2, gamma: 0.5, warmupEpochs: 2 },
    { kind: "exponential", gamma: 0.9 },
    { kind: "cosine", minLearningRate: 0.001, warmupEpochs: 3 },
  ];
  for (const optimizer of OPTIMIZERS) {
    for (const schedule of schedules) {
      const label = `${JSON.stringify(optimizer)}, ${JSON.stringify(schedule)}`;
      it(`resumes exactly after stops at epochs 1, 3 and 5: ${label}`, {
        timeout: TIMEOUT,
      }, async () => {
        const options: TrainOptions = {
          epochs: 6,
          hidden: 6,
          learningRate: optimizer.kind ? 0.02 : 0.3,
          batchSize: 150,
          optimizer,
          lrSchedule: schedule,
        };
        const states: TrainState[] = [];
        const whole = await train(data, {
          ...options,
          onEpoch: (_, snapshot) => states.push(snapshot()),
        });
        const want = bits(whole.model.params, whole.history.map((h) => h.loss));
        for (const stop of [1, 3, 5]) {
          const resume = states[stop - 1];
          const rest = await train(data, { ...options, resume, workers: stop % 2 });
          const losses = [...whole.history.slice(0, stop), ...rest.history].map((h) => h.loss);
          assert.equal(bits(rest.model.params, losses), want, `stopped after epoch ${stop}`);
        }
      });
    }
  }

  it("stops early and returns the best epoch's parameters, also when resumed", {
    timeout: TIMEOUT,
  }, async () => {
    const split = splitValidation(generate("blobs", 400, 4, 7), 0.3, 1);
    const training = split.train;
    const validation = split.validation!;
    const options: TrainOptions = {
      epochs: 200,
      hidden: 8,
      learningRate: 0.05,
      optimizer: { kind: "adam" },
      validation,
      earlyStopping: { patience: 3, minDelta: 1e-3 },
    };
    const states: TrainState[] = [];
    const params: Float64Array[] = [];
    const r = await train(training, {
      ...options,
      onEpoch: (_, snapshot) => {
        const s = snapshot();
        states.push(s);
        params.push(s.params);
      },
    });
    assert.ok(r.stoppedEarly, `ran all ${r.history.length} epochs`);
    const best = r.best!;
    const losses = r.history.map((h) => h.valLoss!);
    // The best epoch: each later epoch failed to beat it by more than the delta, P of them.
    assert.equal(r.history.length, best.epoch + 3);
    assert.equal(losses[best.epoch - 1], best.valLoss);
    for (const loss of losses.slice(best.epoch)) assert.ok(!(loss < best.valLoss - 1e-3));
    assert.deepEqual(r.model.params, params[best.epoch - 1]);
    assert.notDeepEqual(r.model.params, params.at(-1));
    // Resumed after the best epoch, the run stops at the same epoch with the same model.
    const rest = await train(training, { ...options, resume: states[best.epoch] });
    assert.deepEqual(rest.best, r.best);
    assert.deepEqual(rest.model.params, r.model.params);
    assert.equal(rest.history.at(-1)!.epoch, r.history.length);
  });

  it("reports metrics of the returned model on training and validation rows", async () => {
    const split = splitValidation(generate("blobs", 300, 3, 2), 0.25, 1);
    const training = split.train;
    const validation = split.validation!;
    const r = await train(training, { epochs: 20, hidden: 6, validation });
    for (const m of [r.metrics.training, r.metrics.validation!]) {
      assert.ok(m.rocAuc !== null && m.rocAuc > 0.5);
      assert.ok(m.precision !== null && m.recall !== null && m.f1 !== null);
    }
    assert.equal(r.metrics.training.rows, training.samples);
    assert.equal(r.metrics.validation!.rows, validation.samples);
  });

  it("refuses early stopping without validation rows, and bad optimizer options", async () => {
    await assert.rejects(
      train(data, { epochs: 2, earlyStopping: { patience: 2 } }),
      /earlyStopping needs validation/,
    );
    await assert.rejects(
      train(data, { epochs: 2, optimizer: { nesterov: true } }),
      /nesterov needs momentum/,
    );
    await assert.rejects(
      train(data, { epochs: 2, optimizer: { kind: "adam", beta2: 1 } }),
      /beta2/,
    );
  });
});
