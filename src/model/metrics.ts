import type { Floats } from "../dtype.ts";

/** Counts of rows by true label and predicted class (class 1 when the probability is ≥ 0.5). */
export interface ConfusionMatrix {
  /** Label 1, predicted 1. */
  readonly tp: number;
  /** Label 0, predicted 1. */
  readonly fp: number;
  /** Label 0, predicted 0. */
  readonly tn: number;
  /** Label 1, predicted 0. */
  readonly fn: number;
}

/** A metric that can be undefined for some sets of rows. */
export type UndefinableMetric = "precision" | "recall" | "f1" | "rocAuc";

/**
 * How well probabilities separate the classes. A metric that is undefined for these rows (a
 * division by zero) is `null`, and `undefinedBecause` says why, never NaN.
 */
export interface ClassificationMetrics {
  readonly rows: number;
  readonly confusion: ConfusionMatrix;
  /** (tp + tn) / rows. */
  readonly accuracy: number;
  /** tp / (tp + fp): null when no row is predicted 1. */
  readonly precision: number | null;
  /** tp / (tp + fn): null when no row has label 1. */
  readonly recall: number | null;
  /**
   * 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall where both are defined and
   * 0 when tp = 0 but some row is positive or predicted so: null only when none is.
   */
  readonly f1: number | null;
  /**
   * Area under the ROC curve: the probability that a row of label 1 scores higher than a row of
   * label 0, ties counting one half (the Mann–Whitney U statistic over n₁·n₀), computed exactly
   * from ranks, not binned. Null when the rows hold only one class.
   */
  readonly rocAuc: number | null;
  /** For each null metric, why it is undefined. */
  readonly undefinedBecause: Partial<Record<UndefinableMetric, string>>;
}

/**
 * Precision, recall, F1, ROC AUC and the confusion matrix of `probabilities` (of class 1) against
 * 0/1 `labels`, row for row. Throws a `RangeError` for a label other than 0 or 1, a NaN
 * probability, no rows, or arrays of different lengths.
 *
 * @example
 * ```ts
 * const m = classificationMetrics(new Float64Array([0.9, 0.4, 0.4]), new Float64Array([1, 0, 1]));
 * // tp 1, fn 1, tn 1; precision 1, recall 0.5, rocAuc 0.75 (the tie counts one half)
 * ```
 */
export function classificationMetrics(
  probabilities: Floats,
  labels: Floats,
): ClassificationMetrics {
  const rows = labels.length;
  if (probabilities.length !== rows) {
    throw new RangeError(`${probabilities.length} probabilities for ${rows} labels`);
  }
  if (rows === 0) throw new RangeError("no rows to measure");
  let positives = 0;
  for (let i = 0; i < rows; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new RangeError(`label of row ${i} is ${labels[i]}, expected 0 or 1`);
    }
    if (Number.isNaN(probabilities[i])) throw new RangeError(`probability of row ${i} is NaN`);
    positives += labels[i];
  }
  const positive = new Float64Array(positives);
  const negative = new Float64Array(rows - positives);
  let tp = 0, fp = 0;
  for (let i = 0, ip = 0, ineg = 0; i < rows; i++) {
    const p = probabilities[i];
    if (labels[i] === 1) {
      positive[ip++] = p;
      if (p >= 0.5) tp++;
    } else {
      negative[ineg++] = p;
      if (p >= 0.5) fp++;
    }
  }
  const fn = positives - tp;
  const tn = rows - positives - fp;
  const undefinedBecause: Partial<Record<UndefinableMetric, string>> = {};
  const ratio = (name: UndefinableMetric, num: number, den: number, why: string) => {
    if (den > 0) return num / den;
    undefinedBecause[name] = why;
    return null;
  };
  const precision = ratio("precision", tp, tp + fp, "no row is predicted 1");
  const recall = ratio("recall", tp, tp + fn, "no row has label 1");
  const f1 = ratio("f1", 2 * tp, 2 * tp + fp + fn, "no row has label 1 or is predicted 1");
  let rocAuc: number | null = null;
  if (positive.length > 0 && negative.length > 0) {
    rocAuc = rankSum(positive, negative) / (positive.length * negative.length);
  } else {
    undefinedBecause.rocAuc = `only label ${positives > 0 ? 1 : 0} among the rows: ` +
      "ROC AUC needs both classes";
  }
  return {
    rows,
    confusion: { tp, fp, tn, fn },
    accuracy: (tp + tn) / rows,
    precision,
    recall,
    f1,
    rocAuc,
    undefinedBecause,
  };
}

/**
 * Σ over pairs (positive, negative) of [s⁺ > s⁻] + ½[s⁺ = s⁻]: both sorted, then each group of
 * equal scores counts the negatives below it in full and those within it by half. Every partial
 * sum is a multiple of ½ below 2⁵³, so the result is exact. Sorts its arguments in place.
 */
function rankSum(positive: Float64Array, negative: Float64Array): number {
  positive.sort();
  negative.sort();
  let below = 0;
  let sum = 0;
  let i = 0;
  while (i < positive.length) {
    const s = positive[i];
    while (below < negative.length && negative[below] < s) below++;
    let ties = 0;
    while (below + ties < negative.length && negative[below + ties] === s) ties++;
    let group = 0;
    while (i < positive.length && positive[i] === s) {
      group++;
      i++;
    }
    sum += group * below + group * ties / 2;
  }
  return sum;
}
