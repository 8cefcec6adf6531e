import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  optimizerConfig,
  type OptimizerOptions,
  optimizerState,
  optimizerStep,
  stateArrays,
} from "../src/core/optimizer.ts";
import { readCsv } from "../src/data/csv.ts";
import { applyStandardization, fitStandardization } from "../src/data/standardize.ts";
import { jsKernels } from "../src/kernels/js.ts";
import { modelFromJson } from "../src/model/model_file.ts";
import { paramViews } from "../src/model/params.ts";
import {
  lrSchedule,
  type LrScheduleOptions,
  scheduledLearningRate,
} from "../src/train/lr_schedule.ts";

/** test/fixtures/optim/reference.json, written by scripts/torch_optim_reference.py. */
interface Reference {
  data: string;
  init: string;
  standardize: { mean: number[]; std: number[] };
  cases: {
    name: string;
    learningRate: number;
    epochs: number;
    optimizer: OptimizerOptions;
    schedule: LrScheduleOptions;
    lrs: number[];
    losses: number[];
    final: number[];
  }[];
}

const ROOT = new URL("../", import.meta.url);
const reference: Reference = JSON.parse(
  readFileSync(new URL("test/fixtures/optim/reference.json", ROOT), "utf8"),
);
const data = readCsv(new URL(reference.data, ROOT).pathname);
const initPath = new URL(reference.init, ROOT).pathname;
const init = modelFromJson(readFileSync(initPath, "utf8"), initPath);
const standardization = fitStandardization(data);

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/**
 * Full-batch float64 training with the reference kernels, the whole batch as one chunk:
 * the gradient sums, then one optimizer step over all parameters. Returns each epoch's learning
 * rate and loss (before its update) and the final parameters.
 */
function trainReference(c: Reference["cases"][number]) {
  const { features: n, hidden: h } = init;
  const m = data.samples;
  const x = applyStandardization(data, standardization).x;
  const params = Float64Array.from(init.params);
  const p = paramViews(params, n, h);
  const sum = new Float64Array(params.length);
  const g = paramViews(sum, n, h);
  const config = optimizerConfig(c.optimizer);
  const state = optimizerState(
    config,
    params.length,
    new Float64Array(stateArrays(config) * params.length),
  );
  const schedule = lrSchedule(c.schedule, c.learningRate, c.epochs);
  const a1 = new Float64Array(m * h);
  const z = new Float64Array(m);
  const stats = new Float64Array(2);
  const lrs: number[] = [];
  const losses: number[] = [];
  for (let e = 0; e < c.epochs; e++) {
    stats.fill(0);
    jsKernels.hiddenForward(x, 0, m, n, h, p.w1, p.b1, a1);
    jsKernels.outputLogits(a1, m, h, p.w2, p.b2[0], z);
    jsKernels.outputLoss(z, data.y, 0, m, stats);
    jsKernels.outputBackward(a1, z, m, h, p.w2, g.w2, g.b1, g.b2);
    jsKernels.weightGradient(a1, x, 0, m, n, h, g.w1);
    const lr = scheduledLearningRate(schedule, e);
    optimizerStep(config, params, sum, state, 0, params.length, m, lr, e + 1);
    lrs.push(lr);
    losses.push(stats[0] / m);
  }
  return { lrs, losses, params };
}

describe("optimizers against PyTorch (test/fixtures/optim/reference.json)", () => {
  it("standardizes the data exactly as the reference did", () => {
    assert.deepEqual(Array.from(standardization.mean), reference.standardize.mean);
    assert.deepEqual(Array.from(standardization.std), reference.standardize.std);
  });

  for (const c of reference.cases) {
    it(`${c.name}: learning rates, losses within 1e-10 relative, parameters within 1e-9`, () => {
      const got = trainReference(c);
      c.lrs.forEach((lr, e) =>
        assert.ok(relative(got.lrs[e], lr) < 1e-14, `epoch ${e}: lr ${got.lrs[e]}, torch ${lr}`)
      );
      c.losses.forEach((loss, e) =>
        assert.ok(
          relative(got.losses[e], loss) < 1e-10,
          `epoch ${e}: loss ${got.losses[e]}, torch ${loss}`,
        )
      );
      assert.equal(got.params.length, c.final.length);
      c.final.forEach((w, i) =>
        assert.ok(
          Math.abs(got.params[i] - w) < 1e-9,
          `parameter ${i}: ${got.params[i]}, torch ${w}`,
        )
      );
    });
  }

  it("covers each optimizer and each schedule with warm-up", () => {
    const kinds = new Set(reference.cases.map((c) => c.optimizer.kind));
    assert.deepEqual([...kinds].sort(), ["adam", "adamw", "sgd"]);
    const schedules = reference.cases.filter((c) => (c.schedule.warmupEpochs ?? 0) > 0)
      .map((c) => c.schedule.kind).sort();
    assert.deepEqual(schedules, ["cosine", "exponential", "step"]);
    assert.ok(reference.cases.some((c) => c.optimizer.nesterov && c.optimizer.weightDecay));
  });
});
