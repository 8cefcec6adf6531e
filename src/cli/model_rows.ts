import { csvColumns, csvHeader, parseCsv, readCsvText } from "../data/csv.ts";
import type { Dataset } from "../data/dataset.ts";
import { DataError } from "../errors.ts";
import type { Model } from "../model/model.ts";

/** Rows read for a model, whether they came with a label column, and notes for the user. */
export interface ModelRows {
  readonly data: Dataset;
  readonly labelled: boolean;
  readonly notes: readonly string[];
}

/**
 * Reads a CSV of rows to score with `model`. When the model records the header it was trained on
 * and the CSV has a header, columns are matched by name: a missing or extra column is a `DataError`
 * naming them, columns in another order are put in the model's (with a note), and the label
 * column is `label` or else the model's label column when the header has it. Otherwise (an older
 * model, or no header) columns are taken by position: the CSV is labelled when `label` names its
 * label column, or when it has one column more than the model has features (then the last is
 * the label). Labels are read with the model's label values when it records them.
 *
 * @example
 * ```ts
 * const { data, labelled } = readModelRows(model, "data/breast_cancer.csv", undefined);
 * ```
 */
export function readModelRows(
  model: Model,
  path: string,
  label: string | undefined,
  positiveLabel?: string,
): ModelRows {
  const text = readCsvText(path);
  const columns = model.columns;
  // Names are matched when the model's came from a header (which names the label column too).
  const header = columns?.labelName !== undefined ? csvHeader(text, path, label) : null;
  const labels = {
    source: path,
    bothClasses: false,
    ...(columns ? { labelValues: columns.labelValues } : {}),
    ...(positiveLabel !== undefined ? { positiveLabel } : {}),
  };
  if (columns && header) {
    const notes: string[] = [];
    const labelColumn = label ??
      (columns.labelName !== undefined && header.includes(columns.labelName)
        ? columns.labelName
        : undefined);
    const at = labelColumn === undefined
      ? -1
      : header.includes(labelColumn)
      ? header.indexOf(labelColumn)
      : /^\d+$/.test(labelColumn)
      ? Number(labelColumn)
      : -1;
    // Names are compared before the rows are parsed, whose values may be the first thing wrong.
    const names = header.filter((_, c) => c !== at);
    const wanted = columns.featureNames;
    const missing = wanted.filter((name) => !names.includes(name));
    const extra = names.filter((name) => !wanted.includes(name));
    if (missing.length || extra.length) {
      const list = (what: string, of: readonly string[]) => {
        if (!of.length) return [];
        const shown = of.slice(0, 5).map((n) => JSON.stringify(n)).join(", ");
        return [`${what} ${shown}${of.length > 5 ? ` and ${of.length - 5} more` : ""}`];
      };
      const hint = missing.length === 0 && extra.length === 1 && labelColumn === undefined
        ? ` (if ${JSON.stringify(extra[0])} is the label column, say so with --label)`
        : "";
      throw new DataError(
        `${path}: the columns do not match the model's features: ${
          [...list("missing", missing), ...list("extra", extra)].join("; ")
        }${hint}`,
      );
    }
    if (names.length !== wanted.length || new Set(names).size !== names.length) {
      throw new DataError(`${path}: the header repeats a column name; the model's are unique`);
    }
    const data = parseCsv(text, { ...labels, label: labelColumn ?? null });
    const order = wanted.map((name) => data.featureNames.indexOf(name));
    const reordered = order.some((from, k) => from !== k);
    if (reordered) {
      notes.push(`${path}: its columns are in another order than the model's; matched by name`);
    }
    return {
      data: reordered ? reorder(data, order, wanted) : data,
      labelled: labelColumn !== undefined,
      notes,
    };
  }
  const width = header?.length ?? csvColumns(text, path);
  const labelled = label !== undefined || width === model.features + 1;
  if (!labelled && width !== model.features) {
    throw new DataError(
      `${path}: ${width} columns, but the model takes ${model.features} features ` +
        `(and optionally one label column)`,
    );
  }
  // Unlabelled: every column is a feature (null). Labelled: --label, or else the last column.
  const data = parseCsv(text, { ...labels, label: labelled ? label : null });
  const note = columns || positiveLabel !== undefined ? undefined : labelNote(path, data);
  return { data, labelled, notes: note ? [note] : [] };
}

/**
 * The note that says which label value was taken as class 1 by default, or undefined when the
 * labels are 0 and 1 (or there are none).
 *
 * @example
 * ```ts
 * labelNote("wdbc.csv", data); // 'wdbc.csv: class 1 is "M", class 0 "B" (…)'
 * ```
 */
export function labelNote(path: string, data: Dataset): string | undefined {
  const values = data.label?.values;
  if (!values || (values[0] === "0" && values[1] === "1")) return undefined;
  return `${path}: class 1 is ${JSON.stringify(values[1])}, class 0 ${
    JSON.stringify(values[0])
  } (the larger label value; choose with --positive-label)`;
}

/** The rows with feature k taken from column `order[k]` of `data`. */
function reorder(data: Dataset, order: readonly number[], names: readonly string[]): Dataset {
  const n = data.features;
  const x = new Float64Array(data.x.length);
  for (let i = 0; i < data.samples; i++) {
    for (let k = 0; k < n; k++) x[i * n + k] = data.x[i * n + order[k]];
  }
  return { ...data, x, featureNames: names };
}
