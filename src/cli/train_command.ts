import { GENERATOR_PREFIX, loadDataset, resolveDataSource } from "../data/load.ts";
import { splitValidation } from "../data/split.ts";
import { GENERATOR_KINDS } from "../data/generators.ts";
import { looksLikeCheckpoint } from "../checkpoint/checkpoint.ts";
import { type CheckpointPolicy, SAVE_INTERVAL_MS } from "../checkpoint/checkpoint_policy.ts";
import { DataError, DivergenceError, UsageError, WorkerError } from "../errors.ts";
import type { ClusterOptions } from "../engines/cluster/cluster_engine.ts";
import { kernelIdentity } from "../kernels/kernel_identity.ts";
import {
  BACKEND_CHOICES,
  type BackendChoice,
  KERNEL_VARIANT_CHOICES,
  type KernelVariantChoice,
  resolveBackend,
  resolveKernelVariant,
} from "../kernels/select.ts";
import { looksLikeModelFile, readModelFile, writeModelFile } from "../model/model_file.ts";
import { planRunMemory } from "../core/memory_plan.ts";
import { onTerminationSignal } from "../runtime/process.ts";
import { train, type TrainOptions } from "../train/train.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkpointsFromFlags } from "./checkpoint_flags.ts";
import { optionFlag } from "./option_flags.ts";
import { createEpochLog, type EpochLog, type LogFormat } from "./epoch_log.ts";
import {
  flagGiven,
  type FlagSpec,
  type FlagValues,
  helpText,
  parseFlags,
  underFlag,
  usageLines,
} from "./flags.ts";
import { labelNote } from "./model_rows.ts";
import { checkOutputs, type Input } from "./output_paths.ts";
import { writeFileAtomic } from "../runtime/atomic_write.ts";
import { TRAINING_CURVES_MARK } from "../train/training_curves_mark.ts";

const looksLikeCurves = (head: Uint8Array) =>
  new TextDecoder().decode(head).startsWith(TRAINING_CURVES_MARK);
import type { Dtype } from "../dtype.ts";
import {
  OPTIMIZER_KINDS,
  type OptimizerConfig,
  optimizerConfig,
  type OptimizerKind,
  type OptimizerOptions,
} from "../core/optimizer.ts";
import {
  LR_SCHEDULE_KINDS,
  lrSchedule,
  type LrScheduleKind,
  type LrScheduleOptions,
} from "../train/lr_schedule.ts";
import type { EarlyStoppingOptions } from "../train/train.ts";

/**
 * Worker threads at most: each is a runtime instance of its own (about 14 MiB on Deno), and a
 * batch has at most a few hundred chunks to share out in practice.
 */
export const MAX_WORKERS = 256;

/** The train command's flags: the contract that scripts and checks outside the project rely on. */
export const TRAIN_FLAGS: readonly FlagSpec[] = [
  {
    name: "data",
    value: "SRC",
    type: "string",
    help: `a CSV file, or a generator: ${
      GENERATOR_KINDS.map((kind) => GENERATOR_PREFIX + kind).join(", ")
    }; a bare generator name (xor) is the generator unless a file has that name`,
    default: `${GENERATOR_PREFIX}xor`,
  },
  {
    name: "samples",
    value: "M",
    type: "integer",
    min: 2,
    help: "rows of a generated data set (generators only)",
    default: 8192,
  },
  {
    name: "features",
    value: "N",
    type: "integer",
    min: 2,
    help: "features of a generated data set (generators only)",
    default: 8,
  },
  {
    name: "label",
    value: "COL",
    type: "string",
    help: "label column of a CSV, by header name or 0-based index (CSV only)",
    defaultText: "last column",
  },
  {
    name: "positive-label",
    value: "VALUE",
    type: "string",
    help: "the label value that is class 1, of a CSV's two (CSV only)",
    defaultText: "the larger: numbers by value, words in code-unit order",
  },
  {
    name: "hidden",
    value: "H",
    type: "integer",
    min: 1,
    help: "hidden units (with --init: the model's, so leave it out or give the same)",
    default: 32,
  },
  { name: "epochs", value: "E", type: "integer", min: 1, help: "epochs in total", default: 300 },
  {
    name: "lr",
    value: "RATE",
    type: "number",
    above: 0,
    help: "learning rate (the base rate of --lr-schedule)",
    default: 0.5,
  },
  {
    name: "optimizer",
    value: "O",
    type: "string",
    choices: OPTIMIZER_KINDS,
    help: "update rule, as torch.optim's: sgd (plain gradient descent without --momentum), " +
      "adam, adamw",
    default: "sgd",
  },
  {
    name: "momentum",
    value: "MU",
    type: "number",
    help: "sgd: momentum, 0 ≤ MU < 1 (dampening 0)",
    defaultText: "0",
  },
  { name: "nesterov", type: "switch", help: "sgd: Nesterov momentum (needs --momentum > 0)" },
  {
    name: "beta1",
    value: "B1",
    type: "number",
    help: "adam, adamw: decay of the first moment, 0 ≤ B1 < 1",
    defaultText: "0.9",
  },
  {
    name: "beta2",
    value: "B2",
    type: "number",
    help: "adam, adamw: decay of the second moment, 0 ≤ B2 < 1",
    defaultText: "0.999",
  },
  {
    name: "eps",
    value: "EPS",
    type: "number",
    help: "adam, adamw: added to the root of the second moment, EPS > 0",
    defaultText: "1e-8",
  },
  {
    name: "weight-decay",
    value: "L",
    type: "number",
    help: "L ≥ 0 on every parameter, biases included: sgd and adam add L·p to the gradient, " +
      "adamw decays p by (1 − lr·L) before its step",
    defaultText: "0; adamw 0.01",
  },
  {
    name: "lr-schedule",
    value: "SCHEDULE",
    type: "string",
    choices: LR_SCHEDULE_KINDS,
    help: "the rate of epoch e (from 0): lr·f(e), f = 1, G^⌊e/K⌋, G^e, or " +
      "(A + (lr − A)(1 + cos(π e / E))/2)/lr, times the warm-up's min(1, (e+1)/WARM)",
    default: "constant",
  },
  {
    name: "lr-step",
    value: "K",
    type: "integer",
    min: 1,
    help: "step schedule: epochs between two decays (required)",
  },
  {
    name: "lr-gamma",
    value: "G",
    type: "number",
    help: "step, exponential schedules: decay factor, 0 < G ≤ 1 (required for exponential)",
    defaultText: "step: 0.1",
  },
  {
    name: "lr-min",
    value: "A",
    type: "number",
    help: "cosine schedule: the rate approached at the last epoch, 0 ≤ A ≤ --lr",
    defaultText: "0",
  },
  {
    name: "warmup-epochs",
    value: "WARM",
    type: "integer",
    min: 0,
    help: "ramp the rate up linearly over the first W epochs, with any schedule",
    default: 0,
  },
  {
    name: "early-stopping",
    value: "P",
    type: "integer",
    min: 1,
    help: "stop when the validation loss has not improved by more than --min-delta for P " +
      "epochs; --out then holds the best epoch's parameters (needs --val-split)",
  },
  {
    name: "min-delta",
    value: "D",
    type: "number",
    min: 0,
    help: "with --early-stopping: the improvement that counts",
    defaultText: "0",
  },
  {
    name: "seed",
    value: "S",
    type: "integer",
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    help: "seed for initialisation, shuffles, splits and generators: an integer from 0 to 2^53 − 1",
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
    value: "DTYPE",
    type: "string",
    choices: ["f32", "f64"],
    help: "precision",
    default: "f32",
  },
  {
    name: "standardize",
    value: "SCALING",
    type: "string",
    choices: ["zscore", "none"],
    help: "feature scaling, fitted on the training rows",
    default: "zscore",
  },
  {
    name: "val-split",
    value: "FRAC",
    type: "number",
    min: 0,
    below: 1,
    help: "fraction of rows held out for validation",
    default: 0,
  },
  {
    name: "init",
    value: "MODEL",
    type: "string",
    help: "start from this model file (not with --resume)",
    defaultText: "He-style random init from --seed",
  },
  { name: "out", value: "MODEL", type: "string", help: "write the trained model here" },
  {
    name: "plot",
    value: "SVG",
    type: "string",
    help: "draw the loss and accuracy curves, training and validation, into this .svg file",
  },
  {
    name: "checkpoint",
    value: "CKPT",
    type: "string",
    help: "save the state after completed epochs here: periodically, at the end, on Ctrl-C / " +
      "SIGTERM and on failure (mid-epoch: the epoch before)",
  },
  {
    name: "checkpoint-every",
    value: "EVERY",
    type: "integer",
    min: 1,
    help: "save after every EVERY-th epoch",
    defaultText: `an epoch ending ${SAVE_INTERVAL_MS / 1000} s or more after the last save`,
  },
  {
    name: "resume",
    value: "CKPT",
    type: "string",
    help: "continue from this checkpoint; --epochs stays the total; the data, shapes, --dtype, " +
      "--lr, --seed and --batch-size must match",
  },
  {
    name: "workers",
    value: "W",
    type: "integer",
    words: ["auto"],
    min: 0,
    max: MAX_WORKERS,
    help: `0: train in the main thread; W from 1 to ${MAX_WORKERS}: data-parallel on W worker ` +
      "threads (more workers than a batch has chunks only share the reduction); auto: the " +
      "count estimated fastest for the batch's size and shape, said in a note",
    default: "auto",
  },
  {
    name: "cluster",
    value: "URL",
    type: "string",
    help: "train on the worker processes of this NATS cluster (see deno task worker) instead " +
      "of threads: nats://host:port, comma-separated; nats://user:pass@… or nats://token@…",
  },
  {
    name: "min-workers",
    value: "MIN",
    type: "integer",
    min: 1,
    help: "with --cluster: worker processes to wait for before the first step",
    default: 1,
  },
  {
    name: "cluster-wait",
    value: "SEC",
    type: "number",
    above: 0,
    help: "with --cluster: how long to wait for them, and for a new one when none is left",
    default: 60,
  },
  {
    name: "cluster-timeout",
    value: "SEC",
    type: "number",
    above: 0,
    help: "with --cluster: a worker silent this long in a step loses its work to the others",
    default: 5,
  },
  {
    name: "cluster-ca",
    value: "PEM",
    type: "string",
    help: "with --cluster: a PEM file of the certificate authority of the servers' TLS " +
      "certificates",
  },
  {
    name: "backend",
    value: "BACKEND",
    type: "string",
    choices: BACKEND_CHOICES,
    help: "kernel implementation",
    default: "auto",
  },
  {
    name: "kernel-variant",
    value: "VARIANT",
    type: "string",
    choices: KERNEL_VARIANT_CHOICES,
    help: "wasm build of the wasm and blas backends: relaxed (fused multiply-add where the " +
      "runtime fuses: fastest on Deno, bits differ between Deno and Bun), plain (the same bits " +
      "on every runtime); auto: relaxed for wasm, plain for blas",
    default: "auto",
  },
  {
    name: "log-format",
    value: "FORMAT",
    type: "string",
    choices: ["text", "json"],
    help: "text: progress for people; json: one object per line on stdout",
    default: "text",
  },
  {
    name: "force",
    type: "switch",
    help: "replace an existing --out or --checkpoint file that this trainer did not write",
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
      helpText(usageLines("train", "[flags]"), SUMMARY, TRAIN_FLAGS),
    );
    return 0;
  }
  checkTrainOutputs(f);
  const { rows, options, notes: dataNotes } = trainingFromFlags(f);
  const { resume, policy, notes } = checkpointsFromFlags(
    f,
    rows,
    options,
    f.checkpoint !== undefined || f.resume !== undefined ? await runIdentity(f) : undefined,
  );
  const epochs = options.epochs;
  const log = createEpochLog(f["log-format"] as LogFormat, epochs);
  for (const note of [...dataNotes, ...notes]) log.note(note);
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
    if (f.out !== undefined) {
      underFlag("--out", () =>
        writeModelFile(f.out as string, result.model, {
          data: f.data,
          epochs,
          lr: f.lr,
          seed: f.seed,
          dtype: f.dtype,
          batch_size: options.batchSize ?? rows.samples,
          final_loss: result.history.at(-1)?.loss,
        }));
    }
    if (f.plot !== undefined) {
      // Loaded only when asked for: the charting library is large.
      const { trainingCurvesSvg } = await import("../train/training_curves.ts");
      const svg = await trainingCurvesSvg(result.history);
      underFlag("--plot", () => {
        try {
          writeFileAtomic(f.plot as string, svg);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      });
    }
    log.done(result, epochs, {
      ...(f.out !== undefined ? { out: f.out as string } : {}),
      ...(f.plot !== undefined ? { plot: f.plot as string } : {}),
      ...(f.checkpoint !== undefined ? { checkpoint: f.checkpoint as string } : {}),
    });
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
    if (saved && e instanceof DivergenceError) {
      throw new DivergenceError(`${e.render(optionFlag)}${saved}`);
    }
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
    // The note shows the options the message names as flags.
    log.note(e instanceof UsageError || e instanceof DataError ? e.template : (e as Error).message);
    return "";
  }
}

/**
 * Refuses, before any work, an output path that cannot be written or would replace what is not
 * ours: see `checkOutputs`. `--checkpoint` may be the `--resume` file: a run continues in it.
 */
function checkTrainOutputs(f: FlagValues): void {
  if (f.plot !== undefined && !/\.svg$/i.test(f.plot as string)) {
    throw new UsageError(`--plot: the chart is SVG, so the file name ends in .svg, got ${f.plot}`);
  }
  const inputs: Input[] = [];
  const source = underFlag("--data", () => resolveDataSource(f.data as string));
  if (source.kind === "file") inputs.push({ flag: "--data", path: source.path });
  for (const flag of ["init", "resume"]) {
    if (f[flag] !== undefined) inputs.push({ flag: `--${flag}`, path: f[flag] as string });
  }
  const outputs = [
    { flag: "--out", path: f.out, kind: "model file", ours: looksLikeModelFile },
    { flag: "--checkpoint", path: f.checkpoint, kind: "checkpoint", ours: looksLikeCheckpoint },
    { flag: "--plot", path: f.plot, kind: "training-curves chart", ours: looksLikeCurves },
  ].filter((o): o is typeof o & { path: string } => o.path !== undefined);
  checkOutputs(outputs, inputs, f.force === true, [["--checkpoint", "--resume"]]);
}

/** The training rows and options that train flags describe (everything but logging and output). */
export interface TrainingSetup {
  readonly rows: Dataset;
  readonly options: TrainOptions;
  /** Lines the user should see before training starts. */
  readonly notes: readonly string[];
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
  const notes = checkDataFlags(f);
  const options = trainOptionsFromFlags(f);
  const valSplit = f["val-split"] as number;
  const batchSize = options.batchSize;
  const samples = f.samples as number;
  const held = Math.round(valSplit * samples);
  // A split that leaves no training row is reported by the split itself, below.
  if (resolveDataSource(f.data as string).kind === "generator" && held < samples) {
    // Before the rows are generated: their shape is known from the flags.
    planRunMemory({
      dtype: options.dtype!,
      samples: samples - held,
      features: f.features as number,
      hidden: options.hidden!,
      validationSamples: held,
      batchSize: Math.min(batchSize ?? samples, samples - held),
      // auto's threads are checked when train knows its pick; the rows are not yet generated.
      workers: options.workers === "auto" ? 0 : options.workers!,
      standardize: options.standardize === "zscore",
      optimizer: updateFromFlags(f).optimizer,
    });
  }
  const all = datasetFromFlags(f, seed);
  const note = flagGiven(f, "positive-label") ? undefined : labelNote(f.data as string, all);
  if (note) notes.push(note);
  const { train: rows, validation } = splitValidation(all, valSplit, seed);
  const ones = rows.y.reduce((sum, label) => sum + label, 0);
  if (valSplit > 0 && (ones === 0 || ones === rows.samples)) {
    throw new UsageError(
      `--val-split ${valSplit} leaves ${rows.samples} training row${
        rows.samples === 1 ? "" : "s"
      }, all of class ${ones === 0 ? 0 : 1}; training needs both classes, 0 and 1`,
    );
  }
  checkBatchSize(batchSize, rows.samples, "training rows");
  return { rows, notes, options: { ...options, validation } };
}

/**
 * Refuses data flags that would be ignored (a flag that would be ignored, or that contradicts
 * another input, is a usage error); returns the notes a user should see.
 */
function checkDataFlags(f: FlagValues): string[] {
  const notes: string[] = [];
  const source = resolveDataSource(f.data as string);
  if (source.kind === "file") {
    if (source.shadows) {
      notes.push(
        `--data ${source.path}: reading the file; the generator of that name is ` +
          `--data ${GENERATOR_PREFIX}${source.shadows}`,
      );
    }
    for (const flag of ["samples", "features"]) {
      if (flagGiven(f, flag)) {
        throw new UsageError(
          `--${flag}: only with a generator; ${source.path} is a CSV file, all of whose rows ` +
            `and columns are used`,
        );
      }
    }
  } else {
    for (const flag of ["label", "positive-label"]) {
      if (flagGiven(f, flag)) {
        throw new UsageError(
          `--${flag}: only with a CSV file; ${f.data} is a generator, which makes its own labels`,
        );
      }
    }
  }
  return notes;
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
    ...(flagGiven(f, "positive-label") ? { positiveLabel: f["positive-label"] as string } : {}),
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
  if (f.init !== undefined && f.resume !== undefined) {
    throw new UsageError(
      `--init: not with --resume, which continues from the checkpoint's parameters`,
    );
  }
  const init = f.init !== undefined
    ? underFlag("--init", () => readModelFile(f.init as string))
    : undefined;
  if (init && flagGiven(f, "hidden") && f.hidden !== init.hidden) {
    throw new UsageError(
      `--hidden ${f.hidden}: the --init model ${f.init} has ${init.hidden} hidden units; ` +
        `leave --hidden out or give ${init.hidden}`,
    );
  }
  const batchSize = f["batch-size"] as number | undefined;
  const cluster = clusterFromFlags(f);
  const { optimizerOptions, lrScheduleOptions, earlyStopping } = updateFromFlags(f);
  return {
    hidden: init?.hidden ?? f.hidden as number,
    epochs: f.epochs as number,
    learningRate: f.lr as number,
    optimizer: optimizerOptions,
    lrSchedule: lrScheduleOptions,
    ...(earlyStopping ? { earlyStopping } : {}),
    seed: f.seed as number,
    ...(batchSize !== undefined ? { batchSize } : {}),
    dtype: f.dtype as Dtype,
    workers: cluster ? 0 : f.workers as number | "auto",
    ...(cluster ? { cluster } : {}),
    backend: f.backend as BackendChoice,
    kernelVariant: f["kernel-variant"] as KernelVariantChoice,
    standardize: f.standardize as "zscore" | "none",
    ...(init ? { init } : {}),
  };
}

/** The library's names of the optimizer's options, as flags. */
const OPTIMIZER_FLAGS: Record<string, string> = {
  kind: "--optimizer",
  momentum: "--momentum",
  nesterov: "--nesterov",
  beta1: "--beta1",
  beta2: "--beta2",
  eps: "--eps",
  weightDecay: "--weight-decay",
};

/** The library's names of the schedule's options, as flags. */
const SCHEDULE_FLAGS: Record<string, string> = {
  kind: "--lr-schedule",
  stepEpochs: "--lr-step",
  gamma: "--lr-gamma",
  minLearningRate: "--lr-min",
  warmupEpochs: "--warmup-epochs",
  "the learning rate": "--lr",
};

/**
 * Runs a library check and rewrites the option names of its `UsageError` as the flags that set
 * them: `momentum applies to sgd only` → `--momentum applies to sgd only`.
 */
function asFlags<T>(check: () => T, flags: Record<string, string>): T {
  try {
    return check();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const names = Object.keys(flags).sort((a, b) => b.length - a.length);
    const pattern = new RegExp(`(?<![\w-])(${names.join("|")})(?![\w-])`, "g");
    throw new UsageError(e.render(optionFlag).replace(pattern, (name) => flags[name]));
  }
}

/** The optimizer, schedule and early stopping that the flags ask for, checked in flag terms. */
function updateFromFlags(f: FlagValues): {
  optimizer: OptimizerConfig;
  optimizerOptions: OptimizerOptions;
  lrScheduleOptions: LrScheduleOptions;
  earlyStopping: EarlyStoppingOptions | undefined;
} {
  const given = <T>(flag: string, key: string): Record<string, T> =>
    flagGiven(f, flag) ? { [key]: f[flag] as T } : {};
  const optimizerOptions: OptimizerOptions = {
    kind: f.optimizer as OptimizerKind,
    ...given<number>("momentum", "momentum"),
    ...given<boolean>("nesterov", "nesterov"),
    ...given<number>("beta1", "beta1"),
    ...given<number>("beta2", "beta2"),
    ...given<number>("eps", "eps"),
    ...given<number>("weight-decay", "weightDecay"),
  };
  const optimizer = asFlags(() => optimizerConfig(optimizerOptions), OPTIMIZER_FLAGS);
  const lrScheduleOptions: LrScheduleOptions = {
    kind: f["lr-schedule"] as LrScheduleKind,
    ...given<number>("lr-step", "stepEpochs"),
    ...given<number>("lr-gamma", "gamma"),
    ...given<number>("lr-min", "minLearningRate"),
    ...given<number>("warmup-epochs", "warmupEpochs"),
  };
  asFlags(() => lrSchedule(lrScheduleOptions, f.lr as number, f.epochs as number), SCHEDULE_FLAGS);
  const patience = f["early-stopping"] as number | undefined;
  if (patience === undefined) {
    if (flagGiven(f, "min-delta")) throw new UsageError("--min-delta: only with --early-stopping");
    return { optimizer, optimizerOptions, lrScheduleOptions, earlyStopping: undefined };
  }
  if (!((f["val-split"] as number) > 0)) {
    throw new UsageError(
      "--early-stopping: needs --val-split, whose validation loss it watches",
    );
  }
  const earlyStopping = {
    patience,
    ...(flagGiven(f, "min-delta") ? { minDelta: f["min-delta"] as number } : {}),
  };
  return { optimizer, optimizerOptions, lrScheduleOptions, earlyStopping };
}

/** The cluster settings, or undefined without `--cluster`; cluster flags need it. */
function clusterFromFlags(f: FlagValues): ClusterOptions | undefined {
  const only = ["min-workers", "cluster-wait", "cluster-timeout", "cluster-ca"];
  if (f.cluster === undefined) {
    const stray = only.find((flag) => flagGiven(f, flag));
    if (stray) throw new UsageError(`--${stray}: only with --cluster`);
    return undefined;
  }
  if (flagGiven(f, "workers")) {
    throw new UsageError(
      "--workers: not with --cluster, whose workers are the processes started by " +
        "`deno task worker` (their threads: its --threads)",
    );
  }
  return {
    url: f.cluster as string,
    minWorkers: f["min-workers"] as number,
    waitMs: 1000 * (f["cluster-wait"] as number),
    timeoutMs: 1000 * (f["cluster-timeout"] as number),
    ...(f["cluster-ca"] !== undefined ? { caFile: f["cluster-ca"] as string } : {}),
  };
}

const SUMMARY =
  "Trains a one-hidden-layer ReLU network with a sigmoid output by gradient descent on " +
  "binary cross-entropy (or torch.optim's sgd with momentum, adam and adamw, with a " +
  "learning-rate schedule), data-parallel across worker threads. A flag that would be ignored or " +
  "that contradicts another input (--label with a generator, --samples or --features with a " +
  "CSV, --hidden other than the --init model's, --init with --resume) is a usage error, status " +
  "2; outputs are checked before any work, and an existing file this trainer did not write is " +
  "replaced only with --force. Metrics: the training loss and accuracy of an epoch come from " +
  "the forward passes that produced its gradients, so from the parameters before each step (in " +
  "full batch, before the epoch's update; with mini-batches, the sample-weighted mean over its " +
  "steps); the validation loss and accuracy are measured after the epoch's last step.";

/** `kernelIdentity` of the kernels the flags choose: what a checkpoint records of its writer. */
function runIdentity(f: FlagValues): Promise<string> {
  const backend = resolveBackend(f.backend as BackendChoice).name;
  const variant = resolveKernelVariant(backend, f["kernel-variant"] as KernelVariantChoice);
  return kernelIdentity(backend, variant, f.dtype as Dtype);
}
