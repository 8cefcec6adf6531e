import { DataError, option, type OptionName, UsageError } from "../errors.ts";
import type { TrainState } from "../train/train.ts";
import { runtimeName } from "../runtime/process.ts";
import type { Checkpoint, RunConfig, ScheduleConfig } from "./checkpoint.ts";
import { optimizerConfig } from "../core/optimizer.ts";

/** The schedule of checkpoints that name none. */
const CONSTANT: ScheduleConfig = {
  kind: "constant",
  stepEpochs: 0,
  gamma: 1,
  minLearningRate: 0,
  warmupEpochs: 0,
};

/** The options that change the computation and must be the same on resume, in the order checked. */
const FIXED: readonly [name: OptionName, key: keyof RunConfig][] = [
  ["valSplit", "valSplit"],
  ["standardize", "standardize"],
  ["dtype", "dtype"],
  ["hidden", "hidden"],
  ["seed", "seed"],
  ["learningRate", "lr"],
];

/**
 * The state to continue from, after checking that `checkpoint` (read from `path`) belongs to the
 * run `current` describes: the same data (by fingerprint), shapes, precision, seed, learning rate
 * and batch size, and fewer epochs done than `current.epochs`. What may change: `epochs` (the
 * total), `workers` (they never change the bits), logging and output. A different backend is
 * allowed, since a machine may lack the original one, but noted: it changes the rounding, so the
 * result is a valid continuation but not bit-identical to an uninterrupted run. So is another
 * `runtime` than the checkpoint's writer (default: this process's), unless both recorded the same
 * kernel `identity` (see `kernelIdentity`).
 *
 * @example
 * ```ts
 * const { state, notes } = resumeState(readCheckpoint("run.ckpt"), config, fingerprint, "run.ckpt");
 * ```
 */
export function resumeState(
  checkpoint: Checkpoint,
  current: RunConfig,
  fingerprint: string,
  path: string,
  runtime = runtimeName(),
  identity?: string,
): { state: TrainState; notes: string[] } {
  const was = checkpoint.config;
  const differs = (what: string, then: unknown, now: unknown): never => {
    throw new DataError(
      `${option("resume")} ${path}: ${what} differs: the checkpoint has ${then}, this run ${now}`,
    );
  };
  for (const [name, key] of FIXED) {
    if (was[key] !== current[key]) differs(option(name), was[key], current[key]);
  }
  if (checkpoint.dataFingerprint !== fingerprint) {
    differs(
      "the data",
      describeData(was, checkpoint.dataFingerprint),
      describeData(current, fingerprint),
    );
  }
  if (was.batchSize !== current.batchSize) {
    differs(option("batchSize"), was.batchSize, current.batchSize);
  }
  if (checkpoint.epoch >= current.epochs) {
    throw new UsageError(
      `${option("epochs")} ${current.epochs}: ${path} already holds ${checkpoint.epoch} epochs; ` +
        `${option("epochs")} is ` +
        `the total, so give more than ${checkpoint.epoch}`,
    );
  }
  const notes = was.backend === current.backend ? [] : [
    `${path} was trained with the ${was.backend} backend, this run uses ${current.backend}: ` +
    `training continues, but not bit-identical to an uninterrupted run`,
  ];
  const then = checkpoint.writer?.runtime;
  // Two runtimes whose kernels compute the same bits (the identity says so) need no note.
  const same = identity !== undefined && checkpoint.writer?.identity === identity;
  if (then !== undefined && runtimeKind(then) !== runtimeKind(runtime) && !same) {
    notes.push(
      `${path} was written on ${then}, this run is on ${runtime}: training continues, but the ` +
        `result may differ from an uninterrupted run on either runtime`,
    );
  }
  const optimizer = (c: RunConfig) => JSON.stringify(c.optimizer ?? optimizerConfig());
  if (optimizer(was) !== optimizer(current)) {
    differs("the optimizer", describeOptimizer(was), describeOptimizer(current));
  }
  const schedule = (c: RunConfig) => JSON.stringify(c.lrSchedule ?? CONSTANT);
  if (schedule(was) !== schedule(current)) {
    differs("the learning-rate schedule", describeSchedule(was), describeSchedule(current));
  }
  // The cosine curve spans all epochs: another total would change the rates of the epochs done.
  if ((current.lrSchedule ?? CONSTANT).kind === "cosine" && was.epochs !== current.epochs) {
    throw new UsageError(
      `${option("epochs")} ${current.epochs}: the cosine schedule of ${path} spans ` +
        `${was.epochs} epochs; resume it with ${option("epochs")} ${was.epochs}`,
    );
  }
  const { epoch, params, shuffleState, steps } = checkpoint;
  const optimizerState = checkpoint.optimizerState ?? new Float64Array(0);
  return {
    state: {
      epoch,
      params,
      shuffleState,
      steps,
      optimizerState,
      ...(checkpoint.best !== undefined ? { best: checkpoint.best } : {}),
    },
    notes,
  };
}

/** `deno` of `deno 2.9.6`: versions of one runtime are not told apart. */
function runtimeKind(runtime: string): string {
  return runtime.split(" ")[0];
}

function describeData(config: RunConfig, fingerprint: string): string {
  return `${config.data} (${config.samples} rows × ${config.features} features, ` +
    `fingerprint ${fingerprint})`;
}

/** An optimizer as its flags would name it: `adam (beta1 0.9, beta2 0.999, eps 1e-8, …)`. */
function describeOptimizer(config: RunConfig): string {
  const o = config.optimizer ?? optimizerConfig();
  const terms = o.kind === "sgd"
    ? [`momentum ${o.momentum}`, ...(o.nesterov ? ["nesterov"] : [])]
    : [`beta1 ${o.beta1}`, `beta2 ${o.beta2}`, `eps ${o.eps}`];
  return `${o.kind} (${[...terms, `weight decay ${o.weightDecay}`].join(", ")})`;
}

function describeSchedule(config: RunConfig): string {
  const s = config.lrSchedule ?? CONSTANT;
  const terms = s.kind === "step"
    ? [`step ${s.stepEpochs}`, `gamma ${s.gamma}`]
    : s.kind === "exponential"
    ? [`gamma ${s.gamma}`]
    : s.kind === "cosine"
    ? [`min ${s.minLearningRate}`]
    : [];
  return `${s.kind} (${[...terms, `warm-up ${s.warmupEpochs} epochs`].join(", ")})`;
}
