import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { speedupInterval } from "../src/bench/speedup_interval.ts";
import { spread } from "../src/bench/spread.ts";

const pooledSpeedup = (base: number[][], run: number[][]) =>
  spread(base.flat()).median / spread(run.flat()).median;

describe("speedupInterval", () => {
  it("is a single point when every round gives the same epochs", () => {
    const base = Array.from({ length: 5 }, () => [40, 42]);
    const run = Array.from({ length: 5 }, () => [20, 21]);
    assert.deepEqual(speedupInterval(base, run), { low: 2, high: 2 });
  });

  it("pairs rounds: a slow spell that falls on both worker counts of a round adds no doubt", () => {
    // Round r ran on a machine slowed by a factor f[r], at both worker counts alike: the speedup
    // is 2 in every round, and a paired resample must see exactly that. An unpaired one would mix
    // a slow round of one with a fast round of the other and report a wide range.
    const f = [1, 1.6, 1.1, 1.3, 1.05, 1.45];
    const base = f.map((x) => [40 * x, 41 * x]);
    const run = f.map((x) => [20 * x, 20.5 * x]);
    const interval = speedupInterval(base, run)!;
    assert.ok(Math.abs(interval.low - 2) < 1e-12 && Math.abs(interval.high - 2) < 1e-12);
  });

  it("brackets the pooled speedup and widens as the rounds disagree", () => {
    const base = [[40, 41], [44, 45], [39, 40], [42, 43], [41, 41], [40, 44]];
    const steady = [[21, 21], [23, 23], [20, 21], [22, 22], [21, 21], [21, 23]];
    const noisy = [[21, 21], [30, 31], [20, 21], [22, 22], [28, 27], [21, 23]];
    const narrow = speedupInterval(base, steady)!;
    const wide = speedupInterval(base, noisy)!;
    for (const [run, interval] of [[steady, narrow], [noisy, wide]] as const) {
      const point = pooledSpeedup(base, run as number[][]);
      assert.ok(interval.low <= point && point <= interval.high, `${point} in ${interval}`);
    }
    assert.ok(wide.high - wide.low > 2 * (narrow.high - narrow.low));
  });

  it("is the same for the same measurements", () => {
    const base = [[40, 41], [52, 50], [45, 47]];
    const run = [[21, 22], [30, 27], [24, 25]];
    assert.deepEqual(speedupInterval(base, run), speedupInterval(base, run));
  });

  it("is null for one round, or rounds that cannot be paired", () => {
    assert.equal(speedupInterval([[40, 41]], [[20, 21]]), null);
    assert.equal(speedupInterval([[40], [41]], [[20], [21], [22]]), null);
  });
});
