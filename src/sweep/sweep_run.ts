import type { Dataset } from "../data/dataset.ts";
import { selectRows } from "../data/split.ts";
import { DivergenceError } from "../errors.ts";
import { Fnv1a64 } from "../hash.ts";
import { evaluate } from "../model/predict.ts";
import { train, type TrainOptions } from "../train/train.ts";
import type { Split } from "./folds.ts";
import { rocAuc } from "./roc_auc.ts";
import { resolveBackend, resolveKernelVariant } from "../kernels/select.ts";
import { compileWasmKernels, type WasmVariant } from "../kernels/wasm.ts";
import type { WorkspacePool } from "../core/workspace_pool.ts";

/**
 * The options every run of a sweep shares: `train` options without the ones a sweep decides
 * (each run computes in one thread, is validated on its split, and reports through the sweep).
 */
export type RunOptions = Omit<
  TrainOptions,
  "workers" | "validation" | "resume" | "onEpoch" | "onNote" | "signal" | "workspacePool"
>;

/** What one run of a sweep measured. Metrics are NaN when the run diverged. */
export interface RunOutcome {
  /** Mean training loss of the last epoch. */
  readonly trainLoss: number;
  /** Mean binary cross-entropy of the trained model on the held-out rows, in float64. */
  readonly valLoss: number;
  readonly valAccuracy: number;
  /** Exact ROC AUC of the held-out rows' probabilities (see `rocAuc`). */
  readonly valAuc: number;
  /** Wall time of the epochs. */
  readonly ms: number;
  /** FNV-1a of the trained parameters' float64 bytes: equal hashes, bit-identical models. */
  readonly paramsHash: string;
  /**
   * The divergence's message, when training diverged: the run counts as failed, not the sweep.
   * Each option it names is written `{name}` (see `option`), for a command to show as its flag.
   */
  readonly diverged?: string;
}

/** What a run gets from the thread it runs in. */
export interface RunHooks {
  /** Called after each epoch; a thread tells its sweep that it is alive with it. */
  readonly onEpoch?: () => void;
  readonly onNote?: (note: string) => void;
  /** The thread's workspace, reused by each of its runs (see `WorkspacePool`). */
  readonly workspacePool?: WorkspacePool;
}

/**
 * Trains `options` on the split's training rows of `data` in the calling thread, exactly as
 * `train(selectRows(data, split.train), options)` would, and evaluates the model on the split's
 * held-out rows. A divergence is an outcome; any other failure rejects.
 *
 * @example
 * ```ts
 * const [first] = stratifiedFolds(data.y, 5, 1);
 * const outcome = await runSplit(data, first, { epochs: 300, learningRate: 0.1, hidden: 16 });
 * ```
 */
export async function runSplit(
  data: Dataset,
  split: Split,
  options: RunOptions,
  hooks: RunHooks = {},
): Promise<RunOutcome> {
  const rows = selectRows(data, split.train);
  const held = selectRows(data, split.validation);
  try {
    const result = await train(rows, {
      ...options,
      workers: 0,
      ...(hooks.onEpoch ? { onEpoch: hooks.onEpoch } : {}),
      ...(hooks.onNote ? { onNote: hooks.onNote } : {}),
      ...(hooks.workspacePool ? { workspacePool: hooks.workspacePool } : {}),
    });
    const { loss, accuracy, probabilities } = evaluate(result.model, held);
    return {
      trainLoss: result.history.at(-1)?.loss ?? NaN,
      valLoss: loss,
      valAccuracy: accuracy,
      valAuc: rocAuc(probabilities, held.y),
      ms: result.ms,
      paramsHash: paramsHash(result.model.params),
    };
  } catch (e) {
    if (!(e instanceof DivergenceError)) throw e;
    return {
      trainLoss: NaN,
      valLoss: NaN,
      valAccuracy: NaN,
      valAuc: NaN,
      ms: NaN,
      paramsHash: "",
      diverged: e.template,
    };
  }
}

/**
 * The wasm kernels that runs of `options` use, compiled in this thread (null for the js backend):
 * what a sweep posts to its threads, resolved as `train` resolves them.
 *
 * @example
 * ```ts
 * await thread.init(data, splits, base, await runKernels(base), stopped);
 * ```
 */
export async function runKernels(
  options: RunOptions,
): Promise<{ variant: WasmVariant; module: WebAssembly.Module } | null> {
  const backend = resolveBackend(options.backend ?? "auto").name;
  const variant = resolveKernelVariant(backend, options.kernelVariant ?? "auto");
  return variant === null ? null : { variant, module: await compileWasmKernels(variant) };
}

/**
 * The hash `RunOutcome.paramsHash` gives parameters.
 *
 * @example
 * ```ts
 * paramsHash((await train(rows, options)).model.params) === outcome.paramsHash;
 * ```
 */
export function paramsHash(params: Float64Array): string {
  return new Fnv1a64().update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength))
    .hex();
}
