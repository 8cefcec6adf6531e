import { UsageError } from "../errors.ts";
import type { Model } from "../model/model.ts";
import { readModelFile } from "../model/model_file.ts";
import { writeStderr } from "../runtime/process.ts";
import {
  type FlagSpec,
  type FlagValues,
  helpText,
  parseFlags,
  underFlag,
  usageLines,
} from "./flags.ts";
import { type ModelRows, readModelRows } from "./model_rows.ts";
import { inFlagTerms } from "./option_flags.ts";

/** The flags of a command that scores `--model` on the rows of `--data`, both given. */
export interface ModelFlags {
  readonly f: FlagValues;
  /** The --model path. */
  readonly model: string;
  /** The --data path. */
  readonly data: string;
}

/**
 * Parses `args` for a command that scores a model on rows (evaluate, predict): with --help, prints
 * the help (`usage` after the command's name) and returns null; else requires --model and --data.
 *
 * @example
 * ```ts
 * const given = parseModelFlags("predict", "--model MODEL --data CSV", SUMMARY, FLAGS, args);
 * if (given === null) return 0;
 * ```
 */
export function parseModelFlags(
  command: string,
  usage: string,
  summary: string,
  specs: readonly FlagSpec[],
  args: readonly string[],
): ModelFlags | null {
  const f = parseFlags(args, specs);
  if (f.help) {
    console.log(helpText(usageLines(command, usage), summary, specs));
    return null;
  }
  if (f.model === undefined) throw new UsageError("--model: a model file is required");
  if (f.data === undefined) throw new UsageError("--data: a CSV file is required");
  return { f, model: f.model as string, data: f.data as string };
}

/**
 * Reads the model and the rows to score with it (see `readModelRows`; --label and --positive-label
 * choose the label column and class 1), and prints the notes on the rows in flag terms.
 *
 * @example
 * ```ts
 * const { model, data, labelled } = readModelInput(given);
 * ```
 */
export function readModelInput(given: ModelFlags): ModelRows & { readonly model: Model } {
  const model = underFlag("--model", () => readModelFile(given.model));
  const rows = readModelRows(
    model,
    given.data,
    given.f.label as string | undefined,
    given.f["positive-label"] as string | undefined,
  );
  for (const note of rows.notes) writeStderr(`note: ${inFlagTerms(note)}\n`);
  return { ...rows, model };
}
