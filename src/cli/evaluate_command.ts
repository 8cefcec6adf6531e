import { DataError } from "../errors.ts";
import { type ClassificationMetrics, classificationMetrics } from "../model/metrics.ts";
import { evaluate } from "../model/predict.ts";
import { writeStdout } from "../runtime/process.ts";
import type { FlagSpec } from "./flags.ts";
import { parseModelFlags, readModelInput } from "./model_input.ts";
import { PREDICT_FLAGS } from "./predict_command.ts";

const predictFlag = (name: string) => PREDICT_FLAGS.find((f) => f.name === name)!;

/** The evaluate command's flags: predict's model and label, labelled data, and the format. */
export const EVALUATE_FLAGS: readonly FlagSpec[] = [
  predictFlag("model"),
  {
    name: "data",
    value: "CSV",
    type: "string",
    help: "a CSV of the model's features and its label column",
  },
  { ...predictFlag("label"), defaultText: "the model's label column; else the last column" },
  predictFlag("positive-label"),
  {
    name: "log-format",
    value: "FORMAT",
    type: "string",
    choices: ["text", "json"],
    help: "text: a table for people; json: one object on stdout",
    default: "text",
  },
];

/**
 * `evaluate`: loss, accuracy, precision, recall, F1, ROC AUC and the confusion matrix of a model
 * on labelled rows.
 *
 * @example
 * ```ts
 * await evaluateCommand(["--model", "model.json", "--data", "data/breast_cancer.csv"]);
 * ```
 */
export function evaluateCommand(args: readonly string[]): Promise<number> {
  const usage = "--model MODEL --data CSV [--label COL] [--log-format text|json]";
  const given = parseModelFlags("evaluate", usage, SUMMARY, EVALUATE_FLAGS, args);
  if (given === null) return Promise.resolve(0);
  const { f, data: path } = given;
  const { model, data, labelled } = readModelInput(given);
  if (!labelled) {
    throw new DataError(
      `${path}: ${model.features} columns, the model's features, and no label column to ` +
        `evaluate against`,
    );
  }
  const { loss, probabilities } = evaluate(model, data);
  const metrics = classificationMetrics(probabilities, data.y);
  const values = model.columns?.labelValues ?? data.label?.values ?? ["0", "1"];
  writeStdout(
    f["log-format"] === "json"
      ? jsonReport(loss, metrics, values)
      : textReport(loss, metrics, values),
  );
  return Promise.resolve(0);
}

function jsonReport(
  loss: number,
  m: ClassificationMetrics,
  values: readonly [string, string],
): string {
  const why = m.undefinedBecause;
  const undefinedBecause: Record<string, string> = {};
  for (const [name, key] of NAMES) if (why[name]) undefinedBecause[key] = why[name]!;
  return JSON.stringify({
    event: "evaluate",
    rows: m.rows,
    label_values: values,
    loss,
    accuracy: m.accuracy,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    roc_auc: m.rocAuc,
    confusion: m.confusion,
    undefined_because: undefinedBecause,
  }) + "\n";
}

function textReport(
  loss: number,
  m: ClassificationMetrics,
  values: readonly [string, string],
): string {
  const { tp, fp, tn, fn } = m.confusion;
  const value = (name: "precision" | "recall" | "f1" | "rocAuc") =>
    m[name] === null ? `undefined: ${m.undefinedBecause[name]}` : m[name]!.toFixed(6);
  const counts = [tn, fp, fn, tp].map(String);
  const width = Math.max(11, ...counts.map((c) => c.length));
  const cell = (c: string) => c.padStart(width);
  return [
    `${m.rows} rows, ${tp + fn} of class 1 (label ${JSON.stringify(values[1])}), ${
      tn + fp
    } of class 0 (label ${JSON.stringify(values[0])})`,
    `loss       ${loss.toFixed(6)}`,
    `accuracy   ${m.accuracy.toFixed(6)}`,
    `precision  ${value("precision")}`,
    `recall     ${value("recall")}`,
    `f1         ${value("f1")}`,
    `roc_auc    ${value("rocAuc")}`,
    "confusion matrix (rows: label, columns: predicted class, class 1 when p ≥ 0.5):",
    `         ${cell("predicted 0")}  ${cell("predicted 1")}`,
    `label 0  ${cell(counts[0])}  ${cell(counts[1])}`,
    `label 1  ${cell(counts[2])}  ${cell(counts[3])}`,
    "",
  ].join("\n");
}

/** Metric names in the library and in the report. */
const NAMES = [["precision", "precision"], ["recall", "recall"], ["f1", "f1"], [
  "rocAuc",
  "roc_auc",
]] as const;

const SUMMARY = "Measures a trained model on labelled rows: loss, accuracy, precision, recall, " +
  "F1, ROC AUC (exact, ties counted one half) and the confusion matrix.";
