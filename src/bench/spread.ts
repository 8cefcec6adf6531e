/** The spread of repeated measurements: a benchmark reports all three, never a mean alone. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/**
 * Minimum, median and maximum of `values` (the median of an even count is the mean of the middle
 * two).
 *
 * @example
 * ```ts
 * spread([3, 1, 2, 10]); // { min: 1, median: 2.5, max: 10 }
 * ```
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("spread of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}
