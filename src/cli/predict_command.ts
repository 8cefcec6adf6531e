import { writeFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { readModelFile } from "../model/model_file.ts";
import { evaluate, predict } from "../model/predict.ts";
import { writeStderr, writeStdout } from "../runtime/process.ts";
import { type FlagSpec, helpText, parseFlags } from "./flags.ts";
import { readModelRows } from "./model_rows.ts";

/** The predict command's flags. */
export const PREDICT_FLAGS: readonly FlagSpec[] = [
  { name: "model", value: "FILE", type: "string", help: "a model file written by train --out" },
  {
    name: "data",
    value: "FILE",
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
    name: "out",
    value: "FILE",
    type: "string",
    help: "write the probabilities here as CSV",
    defaultText: "standard output",
  },
];

/**
 * `predict`: one probability of class 1 per row; with labels, also the loss and accuracy.
 *
 * @example
 * ```ts
 * await predictCommand(["--model", "model.json", "--data", "data/breast_cancer.csv"]);
 * ```
 */
export function predictCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, PREDICT_FLAGS);
  if (f.help) {
    console.log(
      helpText("deno task predict --model FILE --data FILE [--out FILE]", SUMMARY, PREDICT_FLAGS),
    );
    return Promise.resolve(0);
  }
  if (f.model === undefined) throw new UsageError("--model: a model file is required");
  if (f.data === undefined) throw new UsageError("--data: a CSV file is required");
  const model = readModelFile(f.model as string, "--model");
  const { data, labelled } = readModelRows(model, f.data as string, f.label as string | undefined);
  const scores = labelled ? evaluate(model, data) : null;
  const probabilities = scores?.probabilities ?? predict(model, data);
  const lines = ["probability", ...Array.from(probabilities, String)].join("\n") + "\n";
  if (f.out !== undefined) {
    try {
      writeFileSync(f.out as string, lines);
    } catch (e) {
      throw new UsageError(`--out: cannot write ${f.out}: ${(e as Error).message.split("\n")[0]}`);
    }
  } else {
    writeStdout(lines);
  }
  if (scores) {
    writeStderr(`${probabilities.length} rows: loss ${scores.loss}, accuracy ${scores.accuracy}\n`);
  }
  return Promise.resolve(0);
}

const SUMMARY =
  "Scores rows with a trained model: the probability of class 1 for each row, and the " +
  "loss and accuracy when the CSV has labels.";
