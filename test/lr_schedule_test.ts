import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../src/errors.ts";
import {
  lrSchedule,
  type LrScheduleOptions,
  scheduledLearningRate,
} from "../src/train/lr_schedule.ts";

function rates(options: LrScheduleOptions, lr: number, epochs: number): number[] {
  const schedule = lrSchedule(options, lr, epochs);
  return Array.from({ length: epochs }, (_, e) => scheduledLearningRate(schedule, e));
}

function close(got: number[], want: number[]): void {
  assert.equal(got.length, want.length);
  got.forEach((g, e) =>
    assert.ok(Math.abs(g - want[e]) <= 1e-15 * want[e], `epoch ${e}: ${g}, expected ${want[e]}`)
  );
}

describe("scheduledLearningRate", () => {
  it("constant: the learning rate itself, bit for bit", () => {
    for (const lr of [0.5, 0.1, 1 / 3, 7e-5]) {
      assert.deepEqual(rates({}, lr, 4), [lr, lr, lr, lr]);
      assert.deepEqual(rates({ kind: "constant" }, lr, 2), [lr, lr]);
    }
  });

  it("step: lr·G^⌊e/K⌋, G = 0.1 by default", () => {
    close(rates({ kind: "step", stepEpochs: 2, gamma: 0.5 }, 0.8, 6), [
      0.8,
      0.8,
      0.4,
      0.4,
      0.2,
      0.2,
    ]);
    close(rates({ kind: "step", stepEpochs: 3 }, 1, 7), [1, 1, 1, 0.1, 0.1, 0.1, 0.01]);
  });

  it("exponential: lr·G^e", () => {
    close(rates({ kind: "exponential", gamma: 0.5 }, 2, 4), [2, 1, 0.5, 0.25]);
  });

  it("cosine: from lr down towards A along half a cosine over E epochs", () => {
    // E = 4: cos(π e / 4) = 1, √½, 0, −√½.
    const h = Math.SQRT1_2;
    close(rates({ kind: "cosine", minLearningRate: 0.2 }, 1, 4), [
      1,
      0.2 + 0.8 * (1 + h) / 2,
      0.6,
      0.2 + 0.8 * (1 - h) / 2,
    ]);
    close(rates({ kind: "cosine" }, 2, 2), [2, 1]);
  });

  it("warm-up multiplies by min(1, (e + 1)/W) on top of any schedule", () => {
    close(rates({ warmupEpochs: 4 }, 1, 6), [0.25, 0.5, 0.75, 1, 1, 1]);
    close(rates({ kind: "exponential", gamma: 0.5, warmupEpochs: 2 }, 4, 4), [2, 2, 1, 0.5]);
    close(rates({ kind: "cosine", warmupEpochs: 2 }, 1, 2), [0.5, 0.5]);
    assert.deepEqual(rates({ warmupEpochs: 1 }, 0.3, 2), [0.3, 0.3]);
    assert.deepEqual(rates({ warmupEpochs: 0 }, 0.3, 2), [0.3, 0.3]);
  });
});

describe("lrSchedule", () => {
  it("fills in the defaults", () => {
    assert.deepEqual(lrSchedule({}, 0.5, 10), {
      kind: "constant",
      learningRate: 0.5,
      epochs: 10,
      stepEpochs: 0,
      gamma: 1,
      minLearningRate: 0,
      warmupEpochs: 0,
    });
    assert.equal(lrSchedule({ kind: "step", stepEpochs: 5 }, 0.5, 10).gamma, 0.1);
  });

  const refused: [LrScheduleOptions, RegExp][] = [
    [{ stepEpochs: 5 }, /^stepEpochs applies to the step schedule only, not to constant$/],
    [{ kind: "cosine", gamma: 0.5 }, /^gamma applies to the step and exponential schedule only/],
    [{ kind: "step", stepEpochs: 2, minLearningRate: 0 }, /^minLearningRate applies to the cosine/],
    [{ kind: "step" }, /^the step schedule needs stepEpochs$/],
    [{ kind: "exponential" }, /^the exponential schedule needs gamma$/],
    [{ kind: "step", stepEpochs: 0 }, /^stepEpochs: expected an integer ≥ 1, got 0$/],
    [{ kind: "step", stepEpochs: 1.5 }, /^stepEpochs: expected an integer ≥ 1, got 1.5$/],
    [{ kind: "exponential", gamma: 0 }, /^gamma: expected a number > 0 and ≤ 1, got 0$/],
    [{ kind: "exponential", gamma: 1.1 }, /^gamma: expected a number > 0 and ≤ 1, got 1.1$/],
    [
      { kind: "cosine", minLearningRate: 0.6 },
      /^minLearningRate: expected a number ≥ 0 and ≤ the learning rate 0.5, got 0.6$/,
    ],
    [{ warmupEpochs: -1 }, /^warmupEpochs: expected an integer ≥ 0, got -1$/],
    [{ kind: "linear" as "step" }, /^kind: expected one of constant, step, exponential, cosine/],
  ];
  for (const [options, message] of refused) {
    it(`refuses ${JSON.stringify(options)} naming the option`, () => {
      assert.throws(
        () => lrSchedule(options, 0.5, 10),
        (e) => e instanceof UsageError && message.test(e.message),
      );
    });
  }
});
