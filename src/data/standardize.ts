import type { Dataset } from "./dataset.ts";

/** Per-feature mean and population standard deviation, as {@link fitStandardization} gives. */
export interface Standardization {
  readonly mean: Float64Array;
  readonly std: Float64Array;
}

/**
 * The mean and population standard deviation (ddof 0) of each feature, computed in float64 the
 * way NumPy's `x.mean(axis=1)` and `x.std(axis=1)` do for features × samples, bit for bit:
 * the float64 oracle the trainer is tested against standardizes with NumPy, so any other order of
 * summation would start every comparison from slightly different inputs.
 *
 * @example
 * ```ts
 * const stats = fitStandardization(train);
 * const scaled = applyStandardization(train, stats);
 * ```
 */
export function fitStandardization(data: Dataset): Standardization {
  const { x, samples, features } = data;
  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  const column = new Float64Array(samples);
  for (let k = 0; k < features; k++) {
    for (let i = 0; i < samples; i++) column[i] = x[i * features + k];
    const mu = sum(column) / samples;
    for (let i = 0; i < samples; i++) {
      const d = column[i] - mu;
      column[i] = d * d;
    }
    mean[k] = mu;
    std[k] = Math.sqrt(sum(column) / samples);
  }
  return { mean, std };
}

/**
 * A new data set with each feature centred and scaled: x′ = (x − mean) / std, where a feature
 * whose std is 0 is only centred (divided by 1).
 *
 * @example
 * ```ts
 * const validation = applyStandardization(heldOut, fitStandardization(train));
 * ```
 */
export function applyStandardization(data: Dataset, stats: Standardization): Dataset {
  const { x, samples, features } = data;
  if (stats.mean.length !== features || stats.std.length !== features) {
    throw new RangeError(
      `standardization for ${stats.mean.length} features applied to ${features} features`,
    );
  }
  const scale = stats.std.map((s) => s === 0 ? 1 : s);
  const out = new Float64Array(x.length);
  for (let i = 0; i < samples; i++) {
    const row = i * features;
    for (let k = 0; k < features; k++) out[row + k] = (x[row + k] - stats.mean[k]) / scale[k];
  }
  return { ...data, x: out };
}

/** NumPy's `np.add.reduce` over a contiguous float64 axis: the identity 0, plus a pairwise sum. */
function sum(a: Float64Array): number {
  return 0 + pairwiseSum(a, 0, a.length);
}

/**
 * NumPy's `pairwise_sum` (numpy/_core/src/umath/loops_utils.h.src): short runs in order, runs of
 * up to 128 in eight interleaved accumulators, longer ones split near the middle at a multiple
 * of eight.
 */
function pairwiseSum(a: Float64Array, start: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = start; i < start + n; i++) res += a[i];
    return res;
  }
  if (n <= 128) {
    let r0 = a[start], r1 = a[start + 1], r2 = a[start + 2], r3 = a[start + 3];
    let r4 = a[start + 4], r5 = a[start + 5], r6 = a[start + 6], r7 = a[start + 7];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const p = start + i;
      r0 += a[p];
      r1 += a[p + 1];
      r2 += a[p + 2];
      r3 += a[p + 3];
      r4 += a[p + 4];
      r5 += a[p + 5];
      r6 += a[p + 6];
      r7 += a[p + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  const half = Math.floor(n / 2);
  const n2 = half - (half % 8);
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}
