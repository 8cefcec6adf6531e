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
  /** A CSV's label column: its header name (absent without a header) and its label values. */
  readonly label?: LabelColumn;
}

/** Where a data set's labels came from, and what 0 and 1 stand for. */
export interface LabelColumn {
  /** The header's name for the label column; absent when the CSV has no header row. */
  readonly name?: string;
  /** The label values of class 0 and class 1, as written in the file (`["B", "M"]`, `["0", "1"]`). */
  readonly values: readonly [string, string];
}
