import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readCsv } from "../src/data/csv.ts";
import { measureSweep, type SweepSetting } from "../src/bench/measure_sweep.ts";

const data = readCsv("data/breast_cancer.csv");

describe("measureSweep", () => {
  it("times each setting once per timed round, after untimed ones, with the same runs", async () => {
    const settings: SweepSetting[] = [
      { threads: 0, kept: false },
      { threads: 1, kept: false },
      { threads: 1, kept: true },
    ];
    const heard: string[] = [];
    const timings = await measureSweep(
      data,
      {
        base: { epochs: 5, hidden: 3 },
        axes: { learningRate: [0.1, 1] },
        evaluation: { folds: 2, seed: 1 },
      },
      settings,
      2,
      1,
      (round, s) => heard.push(`${round}:${s.threads}${s.kept ? "k" : ""}`),
    );
    assert.deepEqual(timings.ms.map((ms) => ms.length), [2, 2, 2]);
    assert.ok(timings.ms.flat().every((ms) => ms > 0));
    // Each round starts at another setting; the warm-up round is not heard.
    assert.deepEqual(heard, ["0:0", "0:1", "0:1k", "1:1", "1:1k", "1:0"]);
    assert.equal(timings.identical, true);
  });
});
