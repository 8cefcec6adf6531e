import { Rng } from "../rng.ts";
import { spread } from "./spread.ts";

/** A range that a statistic lies in with the stated confidence. */
export interface Interval {
  readonly low: number;
  readonly high: number;
}

/** Confidence of the reported interval. */
export const INTERVAL_LEVEL = 0.9;
/** Bootstrap resamples: enough that the 5th and 95th percentiles move by well under 1 %. */
const DRAWS = 2000;

/**
 * A bootstrap interval for a speedup, the median epoch time of `base` over that of `run`, where
 * each is given as its rounds' timed epochs and round r of both ran side by side. Each resample
 * draws rounds with replacement, the same round indices for both, so that a slow spell of the
 * machine which fell on one round weighs on both medians alike, as it did when measured; the
 * interval is the central `INTERVAL_LEVEL` of the resampled speedups. Null with fewer than two
 * rounds, or when the two were measured in different numbers of rounds and so cannot be paired.
 * The generator is seeded, so the same measurements always give the same interval.
 *
 * @example
 * ```ts
 * speedupInterval([[40, 41], [52, 50]], [[21, 22], [30, 27]]); // about { low: 1.79, high: 1.88 }
 * ```
 */
export function speedupInterval(
  base: readonly (readonly number[])[],
  run: readonly (readonly number[])[],
): Interval | null {
  return pairedInterval(base, run, (baseMedian, runMedian) => baseMedian / runMedian);
}

/**
 * The same bootstrap interval as `speedupInterval` for any statistic of the two pooled medians,
 * e.g. their difference.
 *
 * @example
 * ```ts
 * pairedInterval([[1.0, 1.1], [1.2, 1.0]], [[0.1, 0.1], [0.2, 0.1]], (b, r) => b - r);
 * ```
 */
export function pairedInterval(
  base: readonly (readonly number[])[],
  run: readonly (readonly number[])[],
  statistic: (baseMedian: number, runMedian: number) => number,
): Interval | null {
  const rounds = base.length;
  if (rounds < 2 || run.length !== rounds) return null;
  const rng = new Rng(1, "bootstrap");
  const picked = new Array<number>(rounds);
  const pooledMedian = (of: readonly (readonly number[])[]) =>
    spread(picked.flatMap((r) => of[r])).median;
  const values = Array.from({ length: DRAWS }, () => {
    for (let i = 0; i < rounds; i++) picked[i] = rng.below(rounds);
    return statistic(pooledMedian(base), pooledMedian(run));
  }).sort((a, b) => a - b);
  const tail = (1 - INTERVAL_LEVEL) / 2;
  return {
    low: values[Math.floor(tail * DRAWS)],
    high: values[Math.ceil((1 - tail) * DRAWS) - 1],
  };
}
