import type { RunConfig } from "../checkpoint/checkpoint.ts";
import { readCheckpoint } from "../checkpoint/checkpoint.ts";
import { CheckpointPolicy } from "../checkpoint/checkpoint_policy.ts";
import { resumeState } from "../checkpoint/resume.ts";
import type { Dataset } from "../data/dataset.ts";
import { datasetFingerprint } from "../data/fingerprint.ts";
import { fitStandardization } from "../data/standardize.ts";
import type { Dtype } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import {
  type BackendChoice,
  kernelsLabel,
  type KernelVariantChoice,
  resolveBackend,
  resolveKernelVariant,
} from "../kernels/select.ts";
import type { TrainOptions, TrainState } from "../train/train.ts";
import type { FlagValues } from "./flags.ts";
import { optimizerConfig } from "../core/optimizer.ts";
import { lrSchedule } from "../train/lr_schedule.ts";

/** What `--checkpoint`, `--checkpoint-every` and `--resume` ask of a run. */
export interface CheckpointSetup {
  /** The state to continue from (`--resume`). */
  readonly resume?: TrainState;
  /** When and where to save (`--checkpoint`). */
  readonly policy?: CheckpointPolicy;
  /** Lines the user should see before training starts. */
  readonly notes: readonly string[];
}

/**
 * Reads and checks the `--resume` checkpoint against this run and sets up `--checkpoint`, for
 * the rows and options that `trainingFromFlags` made of the same flags.
 *
 * @example
 * ```ts
 * const { resume, policy } = checkpointsFromFlags(f, rows, options);
 * ```
 */
export function checkpointsFromFlags(
  f: FlagValues,
  rows: Dataset,
  options: TrainOptions,
  identity?: string,
): CheckpointSetup {
  const path = f.checkpoint as string | undefined;
  const every = f["checkpoint-every"] as number | undefined;
  const resumePath = f.resume as string | undefined;
  if (every !== undefined && path === undefined) {
    throw new UsageError(`--checkpoint-every: only with --checkpoint FILE`);
  }
  if (path === undefined && resumePath === undefined) return { notes: [] };
  const resumed = resumePath !== undefined ? readCheckpoint(resumePath) : undefined;
  const m = rows.samples;
  const batchSize = Math.min(options.batchSize ?? m, m);
  const backend = resolveBackend(f.backend as BackendChoice).name;
  const variant = resolveKernelVariant(backend, f["kernel-variant"] as KernelVariantChoice);
  // Checked already, by the flags' reading: in flag terms.
  const schedule = lrSchedule(options.lrSchedule ?? {}, f.lr as number, f.epochs as number);
  const config: RunConfig = {
    data: f.data as string,
    samples: m,
    features: rows.features,
    hidden: options.init?.hidden ?? f.hidden as number,
    lr: f.lr as number,
    seed: f.seed as number,
    batchSize,
    dtype: f.dtype as Dtype,
    standardize: f.standardize as "zscore" | "none",
    valSplit: f["val-split"] as number,
    epochs: f.epochs as number,
    backend: kernelsLabel(backend, variant),
    optimizer: optimizerConfig(options.optimizer),
    lrSchedule: {
      kind: schedule.kind,
      stepEpochs: schedule.stepEpochs,
      gamma: schedule.gamma,
      minLearningRate: schedule.minLearningRate,
      warmupEpochs: schedule.warmupEpochs,
    },
  };
  const dataFingerprint = datasetFingerprint(rows);
  const { state, notes } = resumed
    ? resumeState(resumed, config, dataFingerprint, resumePath!, undefined, identity)
    : { state: undefined, notes: [] };
  const policy = path === undefined ? undefined : new CheckpointPolicy({
    path,
    ...(every !== undefined ? { every } : {}),
    config,
    dataFingerprint,
    standardization: config.standardize === "zscore" ? fitStandardization(rows) : null,
    stepsPerEpoch: Math.ceil(m / batchSize),
    ...(resumed ? { resumedFrom: resumed } : {}),
    ...(identity !== undefined ? { identity } : {}),
  });
  return { ...(state ? { resume: state } : {}), ...(policy ? { policy } : {}), notes };
}
