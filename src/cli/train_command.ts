import { loadDataset } from "../data/load.ts";
import { splitValidation } from "../data/split.ts";
import { GENERATOR_KINDS } from "../data/generators.ts";
import { type CheckpointPolicy, SAVE_INTERVAL_MS } from "../checkpoint/checkpoint_policy.ts";
import { DivergenceError, UsageError, WorkerError } from "../errors.ts";
import { BACKEND_CHOICES, type BackendChoice } from "../kernels/select.ts";
import { readModelFile, writeModelFile } from "../model/model_file.ts";
import { logicalCpus, onTerminationSignal } from "../runtime/process.ts";
import { train, type TrainOptions } from "../train/train.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkpointsFromFlags } from "./checkpoint_flags.ts";
import { createEpochLog, type EpochLog, type LogFormat } from "./epoch_log.ts";
import { type FlagSpec, type FlagValues, helpText, parseFlags } from "./flags.ts";
import type { Dtype } from "../dtype.ts";

/** The train command's flags: the contract that scripts and checks outside the project rely on. */
export const TRAIN_FLAGS: readonly FlagSpec[] = [
  {
    name: "data",
    value: "SRC",
    type: "string",
    help: `a CSV file, or a generator: ${GENERATOR_KINDS.join(", ")}`,
    default: "xor",
  },
  { name: "samples", value: "M", type: "integer", min: 1, help: "generator rows", default: 8192 },
  { name: "features", value: "N", type: "integer", min: 2, help: "generator features", default: 8 },
  {
    name: "label",
    value: "COL",
    type: "string",
    help: "CSV label column, by header name or 0-based index",
    defaultText: "last column",
  },
  { name: "hidden", value: "H", type: "integer", min: 1, help: "hidden units", default: 32 },
  { name: "epochs", value: "E", type: "integer", min: 1, help: "epochs in total", default: 300 },
  { name: "lr", value: "A", type: "number", above: 0, help: "learning rate", default: 0.5 },
  {
    name: "seed",
    value: "S",
    type: "integer",
    min: 0,
    help: "seed for initialisation, shuffles, splits and generators",
    default: 1,
  },
  {
    name: "batch-size",
    value: "B",
    type: "integer",
    min: 1,
    help: "rows per step; batches are reshuffled every epoch",
    defaultText: "all rows (full batch)",
  },
  {
    name: "dtype",
    value: "T",
    type: "string",
    choices: ["f32", "f64"],
    help: "precision",
    default: "f32",
  },
  {
    name: "standardize",
    value: "S",
    type: "string",
    choices: ["zscore", "none"],
    help: "feature scaling, fitted on the training rows",
    default: "zscore",
  },
  {
    name: "val-split",
    value: "F",
    type: "number",
    min: 0,
    below: 1,
    help: "fraction of rows held out for validation",
    default: 0,
  },
  {
    name: "init",
    value: "FILE",
    type: "string",
    help: "start from this model file",
    defaultText: "He-style random init from --seed",
  },
  { name: "out", value: "FILE", type: "string", help: "write the trained model here" },
  {
    name: "checkpoint",
    value: "FILE",
    type: "string",
    help: "save the state after completed epochs here: periodically, at the end, on Ctrl-C / " +
      "SIGTERM and on failure (mid-epoch: the epoch before)",
  },
  {
    name: "checkpoint-every",
    value: "K",
    type: "integer",
    min: 1,
    help: "save after every K-th epoch",
    defaultText: `an epoch ending ${SAVE_INTERVAL_MS / 1000} s or more after the last save`,
  },
  {
    name: "resume",
    value: "FILE",
    type: "string",
    help: "continue from this checkpoint; --epochs stays the total; the data, shapes, --dtype, " +
      "--lr, --seed and --batch-size must match",
  },
  {
    name: "workers",
    value: "N",
    type: "integer",
    min: 0,
    help: "0: train in the main thread; N ≥ 1: data-parallel on N worker threads",
    default: logicalCpus(),
    defaultText: `logical CPUs (${logicalCpus()})`,
  },
  {
    name: "backend",
    value: "B",
    type: "string",
    choices: BACKEND_CHOICES,
    help: "kernel implementation",
    default: "auto",
  },
  {
    name: "log-format",
    value: "F",
    type: "string",
    choices: ["text", "json"],
    help: "text: progress for people; json: one object per line on stdout",
    default: "text",
  },
];

/**
 * `train`: parses the flags, loads the data, trains and writes the model; returns the exit status.
 *
 * @example
 * ```ts
 * await trainCommand(["--data", "data/breast_cancer.csv", "--workers", "2", "--out", "model.json"]);
 * ```
 */
export async function trainCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, TRAIN_FLAGS);
  if (f.help) {
    console.log(
      helpText("deno task train [flags]   (or: bun run train [flags])", SUMMARY, TRAIN_FLAGS),
    );
    return 0;
  }
  const { rows, options } = trainingFromFlags(f);
  const { resume, policy, notes } = checkpointsFromFlags(f, rows, options);
  const epochs = options.epochs;
  const log = createEpochLog(f["log-format"] as LogFormat, epochs);
  for (const note of notes) log.note(note);
  const interrupt = new AbortController();
  let signalled = 0;
  onTerminationSignal((code) => {
    signalled = code;
    interrupt.abort(new Error(`interrupted`));
  });
  try {
    const result = await train(rows, {
      ...options,
      ...(resume ? { resume } : {}),
      onEpoch: (r, snapshot) => {
        log.epoch(r);
        policy?.epoch(r, snapshot);
      },
      onNote: (note) => log.note(note),
      signal: interrupt.signal,
    });
    policy?.flush();
    log.done(result, epochs);
    if (f.out !== undefined) {
      writeModelFile(f.out as string, result.model, "--out", {
        data: f.data,
        epochs,
        lr: f.lr,
        seed: f.seed,
        dtype: f.dtype,
        batch_size: options.batchSize ?? rows.samples,
        final_loss: result.history.at(-1)?.loss,
      });
    }
    return 0;
  } catch (e) {
    // A usage error here is a checkpoint write that failed: trying again would only repeat it.
    const saved = policy && !(e instanceof UsageError)
      ? saveAfterStop(policy, f.checkpoint as string, log)
      : "";
    if (signalled) {
      log.note(`stopped by signal; workers terminated${saved}`);
      return signalled;
    }
    if (saved && e instanceof DivergenceError) throw new DivergenceError(`${e.message}${saved}`);
    if (saved && e instanceof WorkerError) throw new WorkerError(`${e.message}${saved}`);
    throw e;
  }
}

/**
 * Saves the last completed epoch when a run stops early, and says where it went; a failure to
 * save becomes a note, so that the reason the run stopped is still what the user sees.
 */
function saveAfterStop(policy: CheckpointPolicy, path: string, log: EpochLog): string {
  try {
    const epoch = policy.flush();
    return epoch === undefined ? "" : `; ${path} holds epoch ${epoch}`;
  } catch (e) {
    log.note((e as Error).message);
    return "";
  }
}

/** The training rows and options that train flags describe (everything but logging and output). */
export interface TrainingSetup {
  readonly rows: Dataset;
  readonly options: TrainOptions;
}

/**
 * Loads the data and reads the model file that parsed train flags name, and turns the flags
 * into `train` options; `train` and `compare` share it so that they read flags identically.
 *
 * @example
 * ```ts
 * const { rows, options } = trainingFromFlags(parseFlags(args, TRAIN_FLAGS));
 * ```
 */
export function trainingFromFlags(f: FlagValues): TrainingSetup {
  const seed = f.seed as number;
  const all = datasetFromFlags(f, seed);
  const { train: rows, validation } = splitValidation(all, f["val-split"] as number, seed);
  checkBatchSize(f["batch-size"] as number | undefined, rows.samples, "training rows");
  return { rows, options: { ...trainOptionsFromFlags(f), validation } };
}

/**
 * Loads the rows that the `--data`, `--samples`, `--features` and `--label` flags name; `seed`
 * seeds a generator.
 *
 * @example
 * ```ts
 * const all = datasetFromFlags(parseFlags(args, TRAIN_FLAGS), 1);
 * ```
 */
export function datasetFromFlags(f: FlagValues, seed: number): Dataset {
  return loadDataset({
    source: f.data as string,
    samples: f.samples as number,
    features: f.features as number,
    seed,
    ...(f.label !== undefined ? { label: f.label as string } : {}),
  });
}

/**
 * Rejects a `--batch-size` larger than the `rows` that one training run gets (`what` names them).
 *
 * @example
 * ```ts
 * checkBatchSize(64, rows.samples, "training rows");
 * ```
 */
export function checkBatchSize(batchSize: number | undefined, rows: number, what: string): void {
  if (batchSize !== undefined && batchSize > rows) {
    throw new UsageError(
      `--batch-size: expected an integer from 1 to the ${rows} ${what}, got ${batchSize}`,
    );
  }
}

/**
 * The `train` options that parsed train flags give, without a validation set; reads the
 * `--init` model file.
 *
 * @example
 * ```ts
 * const options = trainOptionsFromFlags(parseFlags(["--epochs", "5"], TRAIN_FLAGS));
 * ```
 */
export function trainOptionsFromFlags(f: FlagValues): TrainOptions {
  const batchSize = f["batch-size"] as number | undefined;
  const init = f.init !== undefined ? readModelFile(f.init as string, "--init") : undefined;
  return {
    hidden: f.hidden as number,
    epochs: f.epochs as number,
    learningRate: f.lr as number,
    seed: f.seed as number,
    ...(batchSize !== undefined ? { batchSize } : {}),
    dtype: f.dtype as Dtype,
    workers: f.workers as number,
    backend: f.backend as BackendChoice,
    standardize: f.standardize as "zscore" | "none",
    ...(init ? { init } : {}),
  };
}

const SUMMARY =
  "Trains a one-hidden-layer ReLU network with a sigmoid output by gradient descent on " +
  "binary cross-entropy, data-parallel across worker threads.";
