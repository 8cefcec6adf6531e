import { DataError, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../runtime/atomic_write.ts";
import { checkOutputs } from "./output_paths.ts";
import { evaluate, predict } from "../model/predict.ts";
import { writeStderr, writeStdout } from "../runtime/process.ts";
import type { FlagSpec } from "./flags.ts";
import { parseModelFlags, readModelInput } from "./model_input.ts";

/** The predict command's flags. */
export const PREDICT_FLAGS: readonly FlagSpec[] = [
  { name: "model", value: "MODEL", type: "string", help: "a model file written by train --out" },
  {
    name: "data",
    value: "CSV",
    type: "string",
    help: "a CSV of the model's features, with or without a label column",
  },
  {
    name: "label",
    value: "COL",
    type: "string",
    help: "label column, by header name or 0-based index",
    defaultText: "the last column, when there is one more column than the model has features",
  },
  {
    name: "positive-label",
    value: "VALUE",
    type: "string",
    help: "the label value that is class 1 (the model records it; needed only for models " +
      "written before it did)",
    defaultText: "the model's; else the larger of the two values",
  },
  {
    name: "threshold",
    value: "T",
    type: "number",
    min: 0,
    max: 1,
    help: "predict class 1 when its probability is ≥ T",
    default: 0.5,
  },
  {
    name: "digits",
    value: "D",
    type: "integer",
    min: 0,
    max: 17,
    help: "digits after the decimal point of each probability",
    default: 6,
  },
  {
    name: "out",
    value: "PRED",
    type: "string",
    help: "write the probabilities and classes here as CSV",
    defaultText: "standard output",
  },
  {
    name: "force",
    type: "switch",
    help: "replace an existing --out file that is not a predictions file of this program",
  },
];

const HEADER = "probability,class";

/**
 * `predict`: one probability of class 1 per row; with labels, also the loss and accuracy.
 *
 * @example
 * ```ts
 * await predictCommand(["--model", "model.json", "--data", "data/breast_cancer.csv"]);
 * ```
 */
export function predictCommand(args: readonly string[]): Promise<number> {
  const usage = "--model MODEL --data CSV [--out PRED]";
  const given = parseModelFlags("predict", usage, SUMMARY, PREDICT_FLAGS, args);
  if (given === null) return Promise.resolve(0);
  const { f, data: path } = given;
  if (f.out !== undefined) {
    // The header of this program's predictions files, now and before they had a class column.
    const ours = (head: Uint8Array) =>
      /^probability(,class)?\n/.test(new TextDecoder().decode(head));
    checkOutputs(
      [{ flag: "--out", path: f.out as string, kind: "predictions file", ours }],
      [{ flag: "--model", path: given.model }, { flag: "--data", path }],
      f.force === true,
    );
  }
  const { model, data, labelled } = readModelInput(given);
  const scores = labelled ? evaluate(model, data) : null;
  const probabilities = scores?.probabilities ?? predict(model, data);
  const bad = probabilities.findIndex((p) => !Number.isFinite(p));
  if (bad >= 0 || (scores && !Number.isFinite(scores.loss))) {
    const what = bad >= 0 ? `row ${bad + 1}'s probability is NaN` : `the loss is ${scores!.loss}`;
    throw new DataError(
      `${given.model}: the model's output is not finite on ${path} (${what}): its weights are too ` +
        `large for these inputs`,
    );
  }
  const [negative, positive] = model.columns?.labelValues ?? data.label?.values ?? ["0", "1"];
  const threshold = f.threshold as number;
  const digits = f.digits as number;
  const lines = [
    HEADER,
    ...Array.from(
      probabilities,
      (p) => `${p.toFixed(digits)},${csvCell(p >= threshold ? positive : negative)}`,
    ),
  ].join("\n") + "\n";
  if (f.out !== undefined) {
    try {
      writeFileAtomic(f.out as string, lines);
    } catch (e) {
      throw new UsageError(`--out: ${(e as Error).message}`);
    }
  } else {
    writeStdout(lines);
  }
  if (scores) {
    writeStderr(
      `${probabilities.length} rows: loss ${exact(scores.loss)}, accuracy ${scores.accuracy}\n`,
    );
  }
  return Promise.resolve(0);
}

/** A label value as a CSV cell: quoted when it holds a comma, quote or line break. */
function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Every digit of a float64, in exponent form once large (not twenty digits of a huge loss). */
function exact(value: number): string {
  return Math.abs(value) < 1e6 ? String(value) : value.toExponential();
}

const SUMMARY =
  "Scores rows with a trained model: for each row the probability of class 1 (with --digits " +
  "decimals) and the predicted class in the training data's label values, and the loss and " +
  "accuracy when the CSV has labels. Columns are matched to the model's by header name when " +
  "both have names.";
