import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { DataError, UsageError } from "../errors.ts";
import { writeModelFile } from "../model/model_file.ts";
import { logicalCpus, onTerminationSignal } from "../runtime/process.ts";
import { evaluationSplits, smallerClass, type SweepEvaluation } from "../sweep/folds.ts";
import {
  type AxisKey,
  expandGrid,
  gridSize,
  type SweepAxes,
  type SweepConfig,
} from "../sweep/grid.ts";
import { sweep, type SweepResult } from "../sweep/sweep.ts";
import type { RunOptions } from "../sweep/sweep_run.ts";
import { train } from "../train/train.ts";
import type { LogFormat } from "./epoch_log.ts";
import {
  type FlagSpec,
  flagValue,
  type FlagValues,
  helpText,
  parseFlags,
  underFlag,
} from "./flags.ts";
import { inFlagTerms } from "./option_flags.ts";
import { createSweepLog, type SweepColumn } from "./sweep_log.ts";
import {
  checkBatchSize,
  datasetFromFlags,
  TRAIN_FLAGS,
  trainOptionsFromFlags,
} from "./train_command.ts";

/**
 * The train flags a sweep takes as comma lists, and the `train` option each one sets. A train flag
 * whose value is one number or string becomes sweepable by a line here.
 */
const SWEEP_AXES: readonly { readonly flag: string; readonly option: AxisKey }[] = [
  { flag: "lr", option: "learningRate" },
  { flag: "hidden", option: "hidden" },
  { flag: "batch-size", option: "batchSize" },
  { flag: "seed", option: "seed" },
];

/** Train flags a sweep replaces with its own meaning, or that have none in a sweep. */
const REPLACED = new Set([
  "out",
  "checkpoint",
  "checkpoint-every",
  "resume",
  "workers",
  "val-split",
]);

const valSplit = TRAIN_FLAGS.find((spec) => spec.name === "val-split")!;

/** The sweep command's flags: the train flags, the axes as lists, and the sweep's own. */
export const SWEEP_FLAGS: readonly FlagSpec[] = [
  ...TRAIN_FLAGS.filter((spec) => !REPLACED.has(spec.name)).map((spec) =>
    SWEEP_AXES.some((axis) => axis.flag === spec.name) ? listFlag(spec) : spec
  ),
  {
    name: "folds",
    value: "K",
    type: "integer",
    min: 2,
    help: "evaluate each configuration by stratified K-fold cross-validation",
    defaultText: "5, unless --val-split",
  },
  {
    ...valSplit,
    above: 0,
    min: undefined,
    default: undefined,
    help: "evaluate each configuration by one run holding out this fraction of the rows " +
      "(instead of --folds)",
    defaultText: "none",
  },
  {
    name: "split-seed",
    value: "S",
    type: "integer",
    min: 0,
    help: "seed for the folds, the validation split and a generator's rows",
    defaultText: "the first --seed",
  },
  {
    name: "workers",
    value: "N",
    type: "integer",
    min: 0,
    help: "worker threads training whole runs side by side; 0: one after another in the main " +
      "thread",
    default: logicalCpus(),
    defaultText: `logical CPUs (${logicalCpus()})`,
  },
  {
    name: "max-runs",
    value: "R",
    type: "integer",
    min: 1,
    help: "refuse a grid of more runs (configurations × folds) than this",
    default: 1000,
  },
  {
    name: "out",
    value: "DIR",
    type: "string",
    help: "write results.json, results.csv (one row per configuration), runs.csv and " +
      "best_model.json (the best configuration retrained on all rows) into this directory",
  },
];

/** Files the sweep writes into `--out`; it refuses to start if any of them exists. */
const OUT_FILES = ["results.json", "results.csv", "runs.csv", "best_model.json"];

/**
 * `sweep`: trains a grid of configurations, each evaluated by cross-validation or a held-out
 * split, on worker threads side by side; prints them ranked by validation loss and writes the
 * results; returns the exit status.
 *
 * @example
 * ```ts
 * await sweepCommand(["--data", "data/breast_cancer.csv", "--lr", "0.1,0.5", "--hidden", "8,16"]);
 * ```
 */
export async function sweepCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, SWEEP_FLAGS);
  if (f.help) {
    console.log(
      helpText("deno task sweep [flags]   (or: bun run sweep [flags])", SUMMARY, SWEEP_FLAGS),
    );
    return 0;
  }
  const lists = new Map(SWEEP_AXES.map(({ flag }) => [flag, listValues(f, flag)]));
  if (f.init !== undefined && lists.get("hidden")!.length > 1) {
    throw new UsageError("--hidden: the hidden units come from the --init model; give no list");
  }
  if (f.folds !== undefined && f["val-split"] !== undefined) {
    throw new UsageError("--folds and --val-split both choose how to validate: give one");
  }
  const splitSeed = (f["split-seed"] ?? lists.get("seed")![0]) as number;
  const data = datasetFromFlags(f, splitSeed);
  const evaluation: SweepEvaluation = f["val-split"] !== undefined
    ? { holdOut: f["val-split"] as number, seed: splitSeed }
    : { folds: (f.folds ?? 5) as number, seed: splitSeed };
  if ("folds" in evaluation && evaluation.folds > smallerClass(data.y)) {
    throw new UsageError(
      `--folds: expected at most ${smallerClass(data.y)}, the rows of the smaller class ` +
        `(every fold holds out both classes), got ${evaluation.folds}`,
    );
  }
  const axes: Record<string, readonly (number | string)[]> = {};
  for (const { flag, option } of SWEEP_AXES) {
    const values = lists.get(flag)!.filter((v) => v !== undefined);
    if (values.length > 0 && !(option === "hidden" && f.init !== undefined)) axes[option] = values;
  }
  const configs = gridSize(axes as SweepAxes);
  const folds = "folds" in evaluation ? evaluation.folds : 1;
  if (configs * folds > (f["max-runs"] as number)) {
    throw new UsageError(
      `--max-runs: the grid has ${configs} configurations × ${folds} ` +
        `${"folds" in evaluation ? "folds" : "split"} = ${configs * folds} runs, more than ` +
        `${f["max-runs"]} (raise --max-runs or shorten the lists)`,
    );
  }
  const splits = evaluationSplits(data.y, evaluation);
  const fewest = Math.min(...splits.map((s) => s.train.length));
  for (const b of lists.get("batch-size")!) {
    checkBatchSize(b as number | undefined, fewest, "training rows of the smallest split");
  }
  const scalar: FlagValues = { ...f, workers: 0 };
  for (const { flag } of SWEEP_AXES) scalar[flag] = lists.get(flag)![0];
  const { workers: _, ...base } = trainOptionsFromFlags(scalar) as RunOptions & {
    workers?: number;
  };
  const outDir = f.out as string | undefined;
  if (outDir !== undefined) prepareOutDir(outDir);

  const columns: SweepColumn[] = SWEEP_AXES.map(({ flag, option }) => ({
    flag,
    value: (config: SweepConfig) => config[option] ?? base[option],
  }));
  const grid = expandGrid(axes as SweepAxes);
  const log = createSweepLog(f["log-format"] as LogFormat, columns, configs * folds);
  const interrupt = new AbortController();
  let signalled = 0;
  onTerminationSignal((code) => {
    signalled = code;
    interrupt.abort(new Error("interrupted"));
  });
  let result: SweepResult;
  try {
    result = await sweep(data, {
      base,
      axes: axes as SweepAxes,
      evaluation,
      threads: f.workers as number,
      signal: interrupt.signal,
      onRun: (run) => log.run(run, grid[run.config]),
      onConfig: (summary) => log.config(summary),
      onNote: (note) => log.note(note),
    });
  } finally {
    log.close();
  }
  log.finish(result);
  if (outDir !== undefined) {
    writeResults(outDir, result, columns, describeSetup(f, data.samples, evaluation));
  }
  if (!result.complete) {
    log.note(
      `stopped by signal after ${result.runs.length} of ${configs * folds} runs` +
        (outDir !== undefined ? `; ${outDir} holds the finished ones` : ""),
    );
    return signalled || 130;
  }
  if (result.best === null) {
    throw new DataError("every configuration diverged: try smaller --lr values");
  }
  if (outDir !== undefined) {
    const best = result.best;
    const path = join(outDir, "best_model.json");
    try {
      const trained = await train(data, { ...base, ...best.config, signal: interrupt.signal });
      underFlag("--out-dir", () =>
        writeModelFile(path, trained.model, {
          data: f.data,
          ...Object.fromEntries(columns.map((c) => [snake(c.flag), c.value(best.config) ?? null])),
          epochs: base.epochs,
          dtype: base.dtype,
          val_loss_mean: best.valLoss,
          validation: folds > 1 ? `${folds}-fold cross-validation` : `val-split ${f["val-split"]}`,
          trained_on: `all ${data.samples} rows`,
        }));
      log.note(`wrote ${path}: the best configuration retrained on all ${data.samples} rows`);
    } catch (e) {
      if (!signalled) throw e;
      log.note(`stopped by signal while retraining the best configuration; no ${path}`);
      return signalled;
    }
  }
  return 0;
}

/** A train flag's spec as a sweep takes it: a comma list of values the train flag accepts. */
function listFlag(spec: FlagSpec): FlagSpec {
  return {
    ...spec,
    type: "string",
    value: `${spec.value},…`,
    help: `${spec.help}; a comma list tries each`,
    choices: undefined,
  };
}

/**
 * The values of a list flag, each checked as the train flag checks its one value; the train
 * default alone when the flag is not given (undefined when that has no default).
 */
function listValues(f: FlagValues, flag: string): (number | string | undefined)[] {
  const given = f[flag];
  if (typeof given !== "string") return [given as number | undefined];
  const spec = TRAIN_FLAGS.find((s) => s.name === flag)!;
  const texts = given.split(",").map((t) => t.trim());
  if (texts.some((t) => t === "")) {
    throw new UsageError(`--${flag}: an empty value in the list "${given}"`);
  }
  const values = texts.map((t) => flagValue(spec, t) as number | string);
  const repeated = values.find((v, i) => values.indexOf(v) !== i);
  if (repeated !== undefined) {
    throw new UsageError(`--${flag}: ${repeated} is listed twice in "${given}"`);
  }
  return values;
}

/** Creates `--out` and checks that none of the files a sweep writes is there already. */
function prepareOutDir(dir: string): void {
  for (const file of OUT_FILES) {
    if (existsSync(join(dir, file))) {
      throw new UsageError(
        `--out: ${join(dir, file)} exists; a sweep writes only new files (remove it or ` +
          `choose another directory)`,
      );
    }
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`--out: cannot create ${dir}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** What the results files say about the sweep as a whole. */
function describeSetup(
  f: FlagValues,
  rows: number,
  evaluation: SweepEvaluation,
): Record<string, unknown> {
  const shared = SWEEP_FLAGS.filter((s) =>
    !SWEEP_AXES.some((a) => a.flag === s.name) &&
    !["out", "log-format", "workers", "max-runs", "folds", "val-split", "split-seed"].includes(
      s.name,
    )
  );
  return {
    rows,
    evaluation: "folds" in evaluation
      ? { folds: evaluation.folds, split_seed: evaluation.seed }
      : { val_split: evaluation.holdOut, split_seed: evaluation.seed },
    shared: Object.fromEntries(
      shared.filter((s) => f[s.name] !== undefined).map((s) => [snake(s.name), f[s.name]]),
    ),
  };
}

/** Writes results.json, results.csv and runs.csv into `dir`, each atomically. */
function writeResults(
  dir: string,
  result: SweepResult,
  columns: readonly SweepColumn[],
  setup: Record<string, unknown>,
): void {
  const settings = (config: SweepConfig) =>
    Object.fromEntries(columns.map((c) => [snake(c.flag), c.value(config) ?? null]));
  const configs = result.ranked.map((s, rank) => ({
    rank: rank + 1,
    config: s.index,
    ...settings(s.config),
    runs: s.runs,
    splits: s.splits,
    val_loss_mean: finite(s.valLoss),
    val_loss_std: finite(s.valLossSpread),
    val_accuracy_mean: finite(s.valAccuracy),
    val_auc_mean: finite(s.valAuc),
    ms: finite(s.ms),
    diverged: s.diverged === undefined ? null : inFlagTerms(s.diverged),
  }));
  const runs = result.runs.map((r) => ({
    config: r.config,
    fold: r.split,
    ...settings(result.configs[r.config]),
    val_loss: finite(r.valLoss),
    val_accuracy: finite(r.valAccuracy),
    val_auc: finite(r.valAuc),
    train_loss: finite(r.trainLoss),
    ms: finite(r.ms),
    params_hash: r.paramsHash,
    diverged: r.diverged === undefined ? null : inFlagTerms(r.diverged),
  }));
  const json = {
    version: 1,
    ...setup,
    complete: result.complete,
    ms: result.ms,
    best: result.best ? configs.find((c) => c.config === result.best!.index) : null,
    configs,
    runs,
  };
  writeAtomically(join(dir, "results.json"), JSON.stringify(json, null, 2) + "\n");
  writeAtomically(join(dir, "results.csv"), csv(configs));
  writeAtomically(join(dir, "runs.csv"), csv(runs));
}

function csv(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return "";
  const cell = (v: unknown) => {
    const text = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const header = Object.keys(rows[0]);
  return [header, ...rows.map((r) => header.map((k) => r[k]))]
    .map((cells) => cells.map(cell).join(",")).join("\n") + "\n";
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (e) {
    rmSync(temporary, { force: true });
    throw new UsageError(`--out: cannot write ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** JSON has no NaN: a metric of a diverged run is null. */
function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function snake(flag: string): string {
  return flag.replaceAll("-", "_");
}

const SUMMARY = "Trains a grid of configurations — every combination of the comma lists given " +
  "to --lr, --hidden, --batch-size and --seed — each evaluated by stratified K-fold " +
  "cross-validation (or one --val-split), on worker threads that each train whole runs side by " +
  "side. Every other train flag applies to all runs, and each run is bit-identical to the same " +
  "training alone. Prints the configurations ranked by mean validation loss, with its spread " +
  "over the folds, accuracy and ROC AUC. Ctrl-C stops and keeps the finished runs.";
