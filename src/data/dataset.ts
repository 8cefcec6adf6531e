/**
 * A labelled data set held in float64, whatever precision training uses:
 * conversion to the training dtype happens once, when the rows are laid into shared memory.
 */
export interface Dataset {
  /** Row-major samples: feature k of sample i is `x[i * features + k]`. */
  readonly x: Float64Array;
  /** One label per sample, each 0 or 1. */
  readonly y: Float64Array;
  readonly samples: number;
  readonly features: number;
  /** Column names from a CSV header, or generated names (`x0`, `x1`, …). */
  readonly featureNames: readonly string[];
}
