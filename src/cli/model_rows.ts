import { csvColumns, parseCsv, readCsvText } from "../data/csv.ts";
import type { Dataset } from "../data/dataset.ts";
import { DataError } from "../errors.ts";
import type { Model } from "../model/model.ts";

/** Rows read for a model, and whether they came with a label column. */
export interface ModelRows {
  readonly data: Dataset;
  readonly labelled: boolean;
}

/**
 * Reads a CSV of rows to score with `model`. It is labelled when `label` names its label column,
 * or when it has one column more than the model has features (then the last is the label);
 * otherwise every column is a feature. Any other width is a `DataError` naming the file.
 *
 * @example
 * ```ts
 * const { data, labelled } = readModelRows(model, "data/breast_cancer.csv", undefined);
 * ```
 */
export function readModelRows(model: Model, path: string, label: string | undefined): ModelRows {
  const text = readCsvText(path);
  const columns = csvColumns(text, path);
  const labelled = label !== undefined || columns === model.features + 1;
  if (!labelled && columns !== model.features) {
    throw new DataError(
      `${path}: ${columns} columns, but the model takes ${model.features} features ` +
        `(and optionally one label column)`,
    );
  }
  // Unlabelled: every column is a feature (null). Labelled: --label, or else the last column.
  const data = parseCsv(text, { source: path, bothClasses: false, label: labelled ? label : null });
  return { data, labelled };
}
