import type { Dataset } from "../data/dataset.ts";
import { applyStandardization } from "../data/standardize.ts";
import { DataError } from "../errors.ts";
import { jsKernels } from "../kernels/js.ts";
import { forwardRows } from "./forward.ts";
import { type Model, modelViews } from "./model.ts";

/** Rows per forward pass: a few hundred KiB of activations at most, whatever the data's size. */
const PASS_ROWS = 1024;

/** Loss and accuracy of a model on labelled rows, with each row's probability of class 1. */
export interface Evaluation {
  /** Mean binary cross-entropy. */
  readonly loss: number;
  /** Fraction of rows where (p ≥ 0.5) agrees with the label. */
  readonly accuracy: number;
  readonly probabilities: Float64Array;
}

/** Rows to predict on: a data set, with or without labels. */
export type Rows = Pick<Dataset, "x" | "samples" | "features">;

/**
 * The probability of class 1 for each row (raw features; the model's standardization is
 * applied). Runs in float64 with the reference kernels.
 *
 * @example
 * ```ts
 * const p = predict(model, { x: new Float64Array([0.1, 2.3]), samples: 1, features: 2 });
 * ```
 */
export function predict(model: Model, rows: Rows): Float64Array {
  return forward(model, rows, null).probabilities;
}

/**
 * Loss, accuracy and probabilities of `model` on a labelled data set (raw features; the model's
 * standardization is applied).
 *
 * @example
 * ```ts
 * const { loss, accuracy } = evaluate(model, readCsv("data/breast_cancer.csv"));
 * ```
 */
export function evaluate(model: Model, data: Dataset): Evaluation {
  return forward(model, data, data.y);
}

function forward(model: Model, data: Rows, y: Float64Array | null): Evaluation {
  if (data.features !== model.features) {
    throw new DataError(`the model has ${model.features} features, the data has ${data.features}`);
  }
  const n = model.features;
  const h = model.hidden;
  const rows = data.samples;
  const s = model.standardization;
  const x = s ? applyStandardization(data as Dataset, s).x : data.x;
  const chunkRows = Math.max(1, Math.min(rows, PASS_ROWS));
  const scratch = { a1: new Float64Array(chunkRows * h), z: new Float64Array(chunkRows) };
  const stats = new Float64Array(2);
  const probabilities = new Float64Array(rows);
  forwardRows(jsKernels, x, y, rows, modelViews(model), n, h, scratch, stats, probabilities);
  return { loss: stats[0] / rows, accuracy: stats[1] / rows, probabilities };
}
