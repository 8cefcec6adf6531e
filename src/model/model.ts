import type { Dataset } from "../data/dataset.ts";
import type { Standardization } from "../data/standardize.ts";
import { Rng } from "../rng.ts";
import { paramCount, type ParamViews, paramViews } from "./params.ts";

/**
 * A network with one hidden layer of ReLU units and a sigmoid output.
 * Parameters are kept in float64 here whatever precision training runs in; a float32 run converts
 * them on the way in and out, and float32 → float64 is exact.
 */
export interface Model {
  readonly features: number;
  readonly hidden: number;
  /** W1 | b1 | W2 | b2, see `paramViews`. */
  readonly params: Float64Array;
  /** The standardization the model expects its inputs to have gone through, if any. */
  readonly standardization?: Standardization;
  /** The columns it was trained on, when known (model files before they were recorded lack it). */
  readonly columns?: ModelColumns;
}

/** What a model knows of its training data's columns. */
export interface ModelColumns {
  /** One name per feature, in the model's order. */
  readonly featureNames: readonly string[];
  /** The label column's header name, when the CSV had a header. */
  readonly labelName?: string;
  /** The label values of class 0 and class 1 (`["0", "1"]` for generated data). */
  readonly labelValues: readonly [string, string];
}

/**
 * The columns of a data set, as a model trained on it records them.
 *
 * @example
 * ```ts
 * datasetColumns(generate("xor", 100, 2, 1)); // { featureNames: ["x0", "x1"], labelValues: ["0", "1"] }
 * ```
 */
export function datasetColumns(data: Dataset): ModelColumns {
  return {
    featureNames: [...data.featureNames],
    ...(data.label?.name !== undefined ? { labelName: data.label.name } : {}),
    labelValues: data.label?.values ?? ["0", "1"],
  };
}

/**
 * A network with He-style random weights from `seed`: W1 ~ N(0, 2/n) for the ReLU layer,
 * W2 ~ N(0, 1/h) for the sigmoid output (its input is not followed by a ReLU), biases zero.
 *
 * @example
 * ```ts
 * const model = initModel(30, 16, 42);
 * ```
 */
export function initModel(features: number, hidden: number, seed: number): Model {
  const params = new Float64Array(paramCount(features, hidden));
  const p = paramViews(params, features, hidden);
  const rng = new Rng(seed, "init");
  const w1Scale = Math.sqrt(2 / features);
  for (let i = 0; i < p.w1.length; i++) p.w1[i] = rng.normal() * w1Scale;
  const w2Scale = Math.sqrt(1 / hidden);
  for (let j = 0; j < hidden; j++) p.w2[j] = rng.normal() * w2Scale;
  return { features, hidden, params };
}

/** Typed views W1 | b1 | W2 | b2 on a model's parameters. */
export function modelViews(model: Model): ParamViews<Float64Array> {
  return paramViews(model.params, model.features, model.hidden);
}
