import { readFileSync } from "node:fs";
import { Packr } from "msgpackr";
import type { Standardization } from "../data/standardize.ts";
import type { Dtype } from "../dtype.ts";
import { DataError, option, UsageError } from "../errors.ts";
import { Fnv1a64 } from "../hash.ts";
import { paramCount } from "../model/params.ts";
import {
  OPTIMIZER_KINDS,
  type OptimizerConfig,
  optimizerConfig,
  stateArrays,
} from "../core/optimizer.ts";
import { LR_SCHEDULE_KINDS, type LrScheduleKind } from "../train/lr_schedule.ts";
import { writeFileAtomic } from "../runtime/atomic_write.ts";

/** What a run was configured with: the flags a resumed run must repeat, and some it may change. */
export interface RunConfig {
  /** Where the rows came from (a path or a generator), for messages only: the fingerprint decides. */
  readonly data: string;
  /** Training rows (after the validation split). */
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly lr: number;
  readonly seed: number;
  /** Rows per step, resolved: the number of training rows for full batch. */
  readonly batchSize: number;
  readonly dtype: Dtype;
  readonly standardize: "zscore" | "none";
  readonly valSplit: number;
  /** Epochs in total, as that run was asked for; a resumed run may ask for more. */
  readonly epochs: number;
  /** The kernels that ran, as `kernelsLabel` names them: the backend and its wasm build. */
  readonly backend: string;
  /** The update rule; absent in checkpoints of earlier versions: plain sgd. */
  readonly optimizer?: OptimizerConfig;
  /** The learning-rate schedule; absent in checkpoints of earlier versions: constant. */
  readonly lrSchedule?: ScheduleConfig;
}

/** A learning-rate schedule as a run was configured (see `LrSchedule`, without lr and epochs). */
export interface ScheduleConfig {
  readonly kind: LrScheduleKind;
  readonly stepEpochs: number;
  readonly gamma: number;
  readonly minLearningRate: number;
  readonly warmupEpochs: number;
}

/** With early stopping: the best epoch so far (see `BestEpoch`). */
export interface CheckpointBest {
  readonly epoch: number;
  readonly valLoss: number;
  readonly params: Float64Array;
}

/** Everything needed to continue a run exactly after one of its epochs, and to check it fits. */
export interface Checkpoint {
  /** Epochs completed. */
  readonly epoch: number;
  /** Steps taken in those epochs: the optimizer's step count t. */
  readonly steps: number;
  /**
   * The optimizer's state after that epoch, its first array then its second (empty for plain
   * sgd, and absent in checkpoints of earlier versions, which are all plain sgd).
   */
  readonly optimizerState?: Float64Array;
  /** With early stopping: the best epoch so far (null before any, absent without it). */
  readonly best?: CheckpointBest | null;
  /** W1 | b1 | W2 | b2 widened to float64 (exact for float32 runs). */
  readonly params: Float64Array;
  /** The shuffling generator's four state words after that epoch. */
  readonly shuffleState: readonly number[];
  /** That epoch's training loss. */
  readonly loss: number;
  readonly config: RunConfig;
  /** The training rows' z-score statistics, when the run standardizes. */
  readonly standardization: Standardization | null;
  /** `datasetFingerprint` of the training rows. */
  readonly dataFingerprint: string;
  /** What computed the parameters; absent in checkpoints of earlier versions of the program. */
  readonly writer?: CheckpointWriter;
}

/**
 * The program that computed a checkpoint's parameters: the runtime (`deno 2.9.6`, `bun 1.4.5`)
 * and the kernel backend. Runtimes may round some functions differently, so a run resumed on
 * another one is a valid continuation but not bit-identical to an uninterrupted run.
 */
export interface CheckpointWriter {
  readonly runtime: string;
  readonly backend: string;
  /** `kernelIdentity` of the backend, variant and dtype there: equal where the bits are equal. */
  readonly identity?: string;
}

const FORMAT = "shardnet-checkpoint";
const VERSION = 1;

/**
 * Plain MessagePack maps (no msgpackr records, so any MessagePack reader can open the file), with
 * typed arrays kept as typed arrays: `moreTypes` stores their raw bytes, so float64 values
 * round-trip bit for bit (NaN payloads and −0 included).
 */
const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * Writes a checkpoint atomically (see `writeFileAtomic`), so a crash at any moment leaves either
 * the previous checkpoint or the new one, never a mix, and the next write removes the temporary
 * files of killed writers. An unwritable path is a usage error naming the `checkpoint` option.
 *
 * The file is a MessagePack map `{format, version, checksum, body}` whose `body` is the
 * MessagePack of the checkpoint and `checksum` its 64-bit FNV-1a, so that damage anywhere is
 * detected rather than resumed from.
 *
 * @example
 * ```ts
 * writeCheckpoint("run.ckpt", checkpoint);
 * ```
 */
export function writeCheckpoint(path: string, checkpoint: Checkpoint): void {
  const body = packr.pack({ ...checkpoint, shuffleState: [...checkpoint.shuffleState] });
  const bytes = packr.pack({ format: FORMAT, version: VERSION, checksum: checksum(body), body });
  try {
    writeFileAtomic(path, bytes);
  } catch (e) {
    throw new UsageError(`${option("checkpoint")}: ${(e as Error).message}`);
  }
}

/**
 * Whether the first bytes of a file show a checkpoint: the envelope's format string comes first.
 *
 * @example
 * ```ts
 * looksLikeCheckpoint(readFileSync("run.ckpt").subarray(0, 64)); // true
 * ```
 */
export function looksLikeCheckpoint(head: Uint8Array): boolean {
  return new TextDecoder().decode(head).includes(FORMAT);
}

/**
 * Reads and validates a checkpoint that `writeCheckpoint` wrote. A missing file is a usage error;
 * a truncated, damaged or foreign one a one-line `DataError` naming the `resume` option and the
 * file.
 *
 * @example
 * ```ts
 * const { epoch, params } = readCheckpoint("run.ckpt");
 * ```
 */
export function readCheckpoint(path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new UsageError(`${option("resume")}: cannot read checkpoint file: ${path}`);
  }
  const fail = (why: string): never => {
    throw new DataError(`${option("resume")} ${path}: ${why}`);
  };
  const corrupt = (why: string): never => fail(`truncated or corrupt checkpoint (${why})`);
  if (bytes.length === 0) corrupt("the file is empty");
  if (bytes[0] === 0x7b) {
    fail(`this is JSON, not a checkpoint; a model file is read with ${option("init")}`);
  }
  const envelope = unpack(bytes, corrupt);
  if (!isRecord(envelope) || envelope.format !== FORMAT) fail("not a shardnet checkpoint");
  const { version, body, checksum: sum } = envelope as Record<string, unknown>;
  if (version !== VERSION) {
    fail(`checkpoint format version ${String(version)}; this program reads version ${VERSION}`);
  }
  if (!(body instanceof Uint8Array) || typeof sum !== "string") corrupt("no body");
  if (checksum(body as Uint8Array) !== sum) corrupt("checksum mismatch");
  return validate(unpack(body as Uint8Array, corrupt), corrupt);
}

function checksum(bytes: Uint8Array): string {
  return new Fnv1a64().update(bytes).hex();
}

function unpack(bytes: Uint8Array, corrupt: (why: string) => never): unknown {
  try {
    return packr.unpack(bytes);
  } catch (e) {
    const incomplete = (e as { incomplete?: boolean }).incomplete === true;
    return corrupt(incomplete ? "the data ends early" : (e as Error).message.split("\n")[0]);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Checks every field's type and range; the checksum already excludes damage, so this excludes bugs. */
function validate(v: unknown, corrupt: (why: string) => never): Checkpoint {
  if (!isRecord(v) || !isRecord(v.config)) return corrupt("the body is not a checkpoint");
  const c = v.config;
  const count = (x: unknown, name: string, min = 0): number =>
    Number.isSafeInteger(x) && (x as number) >= min ? x as number : corrupt(`bad "${name}"`);
  const features = count(c.features, "features", 1);
  const hidden = count(c.hidden, "hidden", 1);
  const floats = (x: unknown, length: number, name: string): Float64Array =>
    x instanceof Float64Array && x.length === length && x.every(Number.isFinite)
      ? x
      : corrupt(`bad "${name}"`);
  const config: RunConfig = {
    data: typeof c.data === "string" ? c.data : corrupt(`bad "data"`),
    samples: count(c.samples, "samples", 1),
    features,
    hidden,
    lr: typeof c.lr === "number" && c.lr > 0 ? c.lr : corrupt(`bad "lr"`),
    seed: count(c.seed, "seed"),
    batchSize: count(c.batchSize, "batchSize", 1),
    dtype: c.dtype === "f32" || c.dtype === "f64" ? c.dtype : corrupt(`bad "dtype"`),
    standardize: c.standardize === "zscore" || c.standardize === "none"
      ? c.standardize
      : corrupt(`bad "standardize"`),
    valSplit: typeof c.valSplit === "number" && c.valSplit >= 0 && c.valSplit < 1
      ? c.valSplit
      : corrupt(`bad "valSplit"`),
    epochs: count(c.epochs, "epochs", 1),
    backend: typeof c.backend === "string" ? c.backend : corrupt(`bad "backend"`),
    ...(c.optimizer === undefined ? {} : { optimizer: validOptimizer(c.optimizer, corrupt) }),
    ...(c.lrSchedule === undefined ? {} : { lrSchedule: validSchedule(c.lrSchedule, corrupt) }),
  };
  const size = paramCount(features, hidden);
  const stateLength = stateArrays(config.optimizer ?? optimizerConfig()) * size;
  const optimizerState = v.optimizerState === undefined
    ? undefined
    : floats(v.optimizerState, stateLength, "optimizerState");
  if (optimizerState === undefined && stateLength > 0) corrupt(`no "optimizerState"`);
  const b = v.best;
  const best = b === undefined || b === null ? b : isRecord(b)
    ? {
      epoch: count(b.epoch, "best.epoch", 1),
      valLoss: typeof b.valLoss === "number" && Number.isFinite(b.valLoss)
        ? b.valLoss
        : corrupt(`bad "best.valLoss"`),
      params: floats(b.params, size, "best.params"),
    }
    : corrupt(`bad "best"`);
  const state = v.shuffleState;
  const words = Array.isArray(state) && state.length === 4 &&
      state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)
    ? state as number[]
    : corrupt(`bad "shuffleState"`);
  const s = v.standardization;
  const standardization = s === null
    ? null
    : isRecord(s)
    ? { mean: floats(s.mean, features, "mean"), std: floats(s.std, features, "std") }
    : corrupt(`bad "standardization"`);
  const w = v.writer;
  const writer = w === undefined ? undefined : isRecord(w) && typeof w.runtime === "string" &&
      typeof w.backend === "string" &&
      (w.identity === undefined || typeof w.identity === "string")
    ? {
      runtime: w.runtime,
      backend: w.backend,
      ...(typeof w.identity === "string" ? { identity: w.identity } : {}),
    }
    : corrupt(`bad "writer"`);
  return {
    ...(writer ? { writer } : {}),
    epoch: count(v.epoch, "epoch"),
    steps: count(v.steps, "steps"),
    ...(optimizerState ? { optimizerState } : {}),
    ...(best !== undefined ? { best } : {}),
    params: floats(v.params, paramCount(features, hidden), "params"),
    shuffleState: words,
    loss: typeof v.loss === "number" && Number.isFinite(v.loss) ? v.loss : corrupt(`bad "loss"`),
    config,
    standardization,
    dataFingerprint: typeof v.dataFingerprint === "string" &&
        /^[0-9a-f]{16}$/.test(v.dataFingerprint)
      ? v.dataFingerprint
      : corrupt(`bad "dataFingerprint"`),
  };
}

function validOptimizer(x: unknown, corrupt: (why: string) => never): OptimizerConfig {
  if (!isRecord(x) || !(OPTIMIZER_KINDS as readonly unknown[]).includes(x.kind)) {
    return corrupt(`bad "optimizer"`);
  }
  try {
    // The same checks as the run's own options: a config that passes them is one a run makes.
    const config = optimizerConfig({
      kind: x.kind as OptimizerConfig["kind"],
      weightDecay: x.weightDecay as number,
      ...(x.kind === "sgd"
        ? { momentum: x.momentum as number, nesterov: x.nesterov === true }
        : { beta1: x.beta1 as number, beta2: x.beta2 as number, eps: x.eps as number }),
    });
    for (const key of Object.keys(config) as (keyof OptimizerConfig)[]) {
      if (config[key] !== x[key]) throw new Error(key);
    }
    return config;
  } catch {
    return corrupt(`bad "optimizer"`);
  }
}

function validSchedule(x: unknown, corrupt: (why: string) => never): ScheduleConfig {
  const number = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
  if (
    !isRecord(x) || !(LR_SCHEDULE_KINDS as readonly unknown[]).includes(x.kind) ||
    !number(x.stepEpochs) || !number(x.gamma) || !number(x.minLearningRate) ||
    !number(x.warmupEpochs)
  ) {
    return corrupt(`bad "lrSchedule"`);
  }
  return {
    kind: x.kind as LrScheduleKind,
    stepEpochs: x.stepEpochs as number,
    gamma: x.gamma as number,
    minLearningRate: x.minLearningRate as number,
    warmupEpochs: x.warmupEpochs as number,
  };
}
