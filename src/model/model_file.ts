import { readFileSync } from "node:fs";
import { DataError, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../runtime/atomic_write.ts";
import { paramCount } from "./params.ts";
import { type Model, type ModelColumns, modelViews } from "./model.ts";

/**
 * The model file's JSON text: `{"hidden", "features", "W1": [h rows of n], "b1", "W2", "b2"}`,
 * plus `"standardize": {"mean", "std"}` when the model has one, its columns (`"feature_names"`,
 * `"label"`, `"label_values"`: class 0's, class 1's) when known, and any `metadata` given.
 * JavaScript prints the shortest decimal that reads back as the same float64, so values round-trip.
 *
 * @example
 * ```ts
 * const text = modelToJson(initModel(2, 3, 1), { epochs: 10 });
 * ```
 */
export function modelToJson(model: Model, metadata?: Record<string, unknown>): string {
  const p = modelViews(model);
  const rows: number[][] = [];
  for (let j = 0; j < model.hidden; j++) {
    rows.push(Array.from(p.w1.subarray(j * model.features, (j + 1) * model.features)));
  }
  const file: Record<string, unknown> = {
    hidden: model.hidden,
    features: model.features,
    W1: rows,
    b1: Array.from(p.b1),
    W2: Array.from(p.w2),
    b2: p.b2[0],
  };
  if (model.standardization) {
    file.standardize = {
      mean: Array.from(model.standardization.mean),
      std: Array.from(model.standardization.std),
    };
  }
  if (model.columns) {
    file.feature_names = model.columns.featureNames;
    if (model.columns.labelName !== undefined) file.label = model.columns.labelName;
    file.label_values = model.columns.labelValues;
  }
  if (metadata) file.metadata = metadata;
  return JSON.stringify(file) + "\n";
}

/**
 * Reads a model from the JSON text of a model file; `source` names the file in error messages.
 * Throws `DataError` (one line) when the text is not a well-formed model.
 *
 * @example
 * ```ts
 * const model = modelFromJson(modelToJson(initModel(2, 3, 1)), "inline");
 * ```
 */
export function modelFromJson(text: string, source: string): Model {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (e) {
    throw new DataError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const fail = (what: string): never => {
    throw new DataError(`${source}: ${what}`);
  };
  if (typeof file !== "object" || file === null || Array.isArray(file)) {
    fail("expected a JSON object with hidden, features, W1, b1, W2, b2");
  }
  const f = file as Record<string, unknown>;
  const hidden = positiveInteger(f.hidden) ?? fail(`"hidden" must be a positive integer`);
  const features = positiveInteger(f.features) ?? fail(`"features" must be a positive integer`);
  if (!Array.isArray(f.W1) || f.W1.length !== hidden) {
    fail(`"W1" must have ${hidden} rows (hidden), got ${describeLength(f.W1)}`);
  }
  // The arrays' lengths bound the shape by the file's size before anything of that shape exists.
  (f.W1 as unknown[]).forEach((row, j) => {
    if (!Array.isArray(row) || row.length !== features) {
      fail(
        `"W1[${j}]" must be an array of ${features} numbers (features), got ${describeLength(row)}`,
      );
    }
  });
  const params = new Float64Array(paramCount(features, hidden));
  const p = modelViews({ features, hidden, params });
  (f.W1 as unknown[]).forEach((row, j) => {
    p.w1.set(finiteArray(row, features, `W1[${j}]`, fail), j * features);
  });
  p.b1.set(finiteArray(f.b1, hidden, "b1", fail));
  p.w2.set(finiteArray(f.W2, hidden, "W2", fail));
  p.b2[0] = finiteArray([f.b2], 1, "b2", fail)[0];
  const columns = readColumns(f, features, fail);
  const model = { features, hidden, params, ...(columns ? { columns } : {}) };
  if (f.standardize === undefined) return model;
  const s = f.standardize as Record<string, unknown> | null;
  if (typeof s !== "object" || s === null) {
    fail(`"standardize" must be an object with mean and std`);
  }
  const mean = Float64Array.from(finiteArray(s!.mean, features, "standardize.mean", fail));
  const std = Float64Array.from(finiteArray(s!.std, features, "standardize.std", fail));
  if (std.some((v) => v < 0)) fail(`"standardize.std" values must not be negative`);
  return { ...model, standardization: { mean, std } };
}

/** The recorded columns, or undefined in a model file written before they were recorded. */
function readColumns(
  f: Record<string, unknown>,
  features: number,
  fail: (what: string) => never,
): ModelColumns | undefined {
  if (f.feature_names === undefined) return undefined;
  const strings = (v: unknown, length: number) =>
    Array.isArray(v) && v.length === length && v.every((s) => typeof s === "string");
  if (!strings(f.feature_names, features)) {
    fail(`"feature_names" must be an array of ${features} strings (features)`);
  }
  if (f.label !== undefined && typeof f.label !== "string") fail(`"label" must be a string`);
  const values = f.label_values as string[];
  if (!strings(values, 2) || values[0] === values[1]) {
    fail(`"label_values" must be two different strings: class 0's and class 1's`);
  }
  return {
    featureNames: f.feature_names as string[],
    ...(f.label !== undefined ? { labelName: f.label as string } : {}),
    labelValues: [values[0], values[1]],
  };
}

/**
 * Whether the first bytes of a file show a model file: a JSON object whose first key is
 * `"hidden"` or `"features"`, as `modelToJson` writes it.
 *
 * @example
 * ```ts
 * looksLikeModelFile(new TextEncoder().encode('{"hidden":8,')); // true
 * ```
 */
export function looksLikeModelFile(head: Uint8Array): boolean {
  return /^\s*\{\s*"(hidden|features)"\s*:/.test(new TextDecoder().decode(head));
}

/**
 * Reads a model file. A file that cannot be read is a `UsageError` naming the path; a malformed
 * one a `DataError`.
 *
 * @example
 * ```ts
 * const model = readModelFile("model.json");
 * ```
 */
export function readModelFile(path: string): Model {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`cannot read model file: ${path}`);
  }
  return modelFromJson(text, path);
}

function positiveInteger(v: unknown): number | undefined {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

function describeLength(v: unknown): string {
  return Array.isArray(v) ? `${v.length}` : v === undefined ? "none" : typeof v;
}

function finiteArray(
  v: unknown,
  length: number,
  name: string,
  fail: (what: string) => never,
): number[] {
  if (!Array.isArray(v) || v.length !== length) {
    fail(`"${name}" must be an array of ${length} numbers`);
  }
  const values = v as unknown[];
  values.forEach((x, i) => {
    if (typeof x !== "number") {
      fail(`"${name}"[${i}] must be a finite number, got ${JSON.stringify(x)}`);
    } else if (!Number.isFinite(x)) {
      // JSON has no infinities: a literal past float64's range, like 1e999, reads as one.
      fail(`"${name}"[${i}] is not a finite number (beyond the range of float64)`);
    }
  });
  return values as number[];
}

/**
 * Writes a model file atomically (see `writeFileAtomic`), so a crash never leaves a half-written
 * model. An unwritable path is a `UsageError` naming the path.
 *
 * @example
 * ```ts
 * writeModelFile("model.json", model, { epochs: 100 });
 * ```
 */
export function writeModelFile(
  path: string,
  model: Model,
  metadata?: Record<string, unknown>,
): void {
  try {
    writeFileAtomic(path, modelToJson(model, metadata));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
