import { holdOutRows } from "../data/split.ts";
import { Rng } from "../rng.ts";

/** The rows one run trains on and the rows it is evaluated on, as ascending row indices. */
export interface Split {
  readonly train: Int32Array;
  readonly validation: Int32Array;
}

/** How each configuration of a sweep is evaluated. */
export type SweepEvaluation =
  /** `folds`-fold cross-validation: stratified, each row held out once. */
  | { readonly folds: number; readonly seed: number }
  /** One run per configuration, holding out round(fraction · rows) rows as `splitValidation`. */
  | { readonly holdOut: number; readonly seed: number };

/**
 * The splits an evaluation makes of rows labelled `labels`.
 *
 * @example
 * ```ts
 * const splits = evaluationSplits(data.y, { folds: 5, seed: 1 }); // 5 splits
 * ```
 */
export function evaluationSplits(labels: ArrayLike<number>, evaluation: SweepEvaluation): Split[] {
  if ("folds" in evaluation) return stratifiedFolds(labels, evaluation.folds, evaluation.seed);
  return [holdOutRows(labels.length, evaluation.holdOut, evaluation.seed)];
}

/**
 * The smallest class's row count: the most folds a stratified split can give every fold a row of.
 *
 * @example
 * ```ts
 * smallerClass([0, 1, 1, 0, 1]); // 2
 * ```
 */
export function smallerClass(labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  return Math.min(positives, labels.length - positives);
}

/**
 * Stratified k-fold cross-validation: the rows of each class, shuffled by a generator seeded
 * with `seed`, are dealt to the folds in turn, the second class continuing where the first
 * stopped. So every row is held out exactly once, each fold's count of each class is within one
 * of the others', and fold sizes are within one of each other. Split i holds out fold i.
 * Requires 2 ≤ k ≤ the smaller class's row count (a RangeError otherwise), so that every fold
 * holds out both classes.
 *
 * @example
 * ```ts
 * const folds = stratifiedFolds(data.y, 5, 1);
 * train(selectRows(data, folds[0].train), options);
 * ```
 */
export function stratifiedFolds(labels: ArrayLike<number>, k: number, seed: number): Split[] {
  const m = labels.length;
  if (!(Number.isInteger(k) && k >= 2 && k <= smallerClass(labels))) {
    throw new RangeError(
      `${k} folds: expected an integer from 2 to the smaller class's ${smallerClass(labels)} rows`,
    );
  }
  const foldOf = new Int32Array(m);
  const rng = new Rng(seed, "folds");
  let next = 0;
  for (const label of [0, 1]) {
    const rows: number[] = [];
    for (let i = 0; i < m; i++) if (labels[i] === label) rows.push(i);
    rng.shuffle(rows);
    for (const row of rows) {
      foldOf[row] = next;
      next = (next + 1) % k;
    }
  }
  const held = new Int32Array(k);
  for (let i = 0; i < m; i++) held[foldOf[i]]++;
  return Array.from({ length: k }, (_, fold) => {
    const train = new Int32Array(m - held[fold]);
    const validation = new Int32Array(held[fold]);
    for (let i = 0, t = 0, v = 0; i < m; i++) {
      if (foldOf[i] === fold) validation[v++] = i;
      else train[t++] = i;
    }
    return { train, validation };
  });
}
