import { DataError, UsageError } from "../errors.ts";
import { readModelFile } from "../model/model_file.ts";
import { writeFileAtomic } from "../runtime/atomic_write.ts";
import { checkOutputs } from "./output_paths.ts";
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
  {
    name: "force",
    type: "switch",
    help: "replace an existing --out file that is not a predictions file of this program",
  },
];

const HEADER = "probability";

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
  const path = f.data as string;
  if (f.out !== undefined) {
    const ours = (head: Uint8Array) => new TextDecoder().decode(head).startsWith(`${HEADER}\n`);
    checkOutputs(
      [{ flag: "--out", path: f.out as string, kind: "predictions file", ours }],
      [{ flag: "--model", path: f.model as string }, { flag: "--data", path }],
      f.force === true,
    );
  }
  const model = readModelFile(f.model as string, "--model");
  const { data, labelled } = readModelRows(model, path, f.label as string | undefined);
  const scores = labelled ? evaluate(model, data) : null;
  const probabilities = scores?.probabilities ?? predict(model, data);
  const bad = probabilities.findIndex((p) => !Number.isFinite(p));
  if (bad >= 0 || (scores && !Number.isFinite(scores.loss))) {
    const what = bad >= 0 ? `row ${bad + 1}'s probability is NaN` : `the loss is ${scores!.loss}`;
    throw new DataError(
      `${f.model}: the model's output is not finite on ${path} (${what}): its weights are too ` +
        `large for these inputs`,
    );
  }
  const lines = [HEADER, ...Array.from(probabilities, String)].join("\n") + "\n";
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

/** Every digit of a float64, in exponent form once large (not twenty digits of a huge loss). */
function exact(value: number): string {
  return Math.abs(value) < 1e6 ? String(value) : value.toExponential();
}

const SUMMARY =
  "Scores rows with a trained model: the probability of class 1 for each row, and the " +
  "loss and accuracy when the CSV has labels.";
