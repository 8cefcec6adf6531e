import type { WasmVariant } from "../kernels/wasm.ts";
import type { Batch } from "./shards.ts";

/** What a step needs besides the parameters and data the engine was started with. */
export interface StepInput {
  /** The batch: rows [begin, end) of the epoch's order. */
  readonly batch: Batch;
  /**
   * The epoch's row order when batches are shuffled, else null. The same array for every step
   * of an epoch; `epoch` says when it is a new one.
   */
  readonly order: Int32Array | null;
  /** Counts from 1; a new value means a new `order`. */
  readonly epoch: number;
  /**
   * The rate of this step's descent; null for a step that only sums the batch's gradient and
   * leaves it in partial slot 0 without touching the parameters (what a cluster worker serves).
   */
  readonly learningRate: number | null;
  /**
   * The optimizer's step count t of this update, from 1 over the whole run (a resumed run goes
   * on counting): adam's bias correction depends on it. Ignored when `learningRate` is null.
   */
  readonly step: number;
}

/** What a step measured, from the forward pass before its update. */
export interface StepOutput {
  /** The batch's chunks. */
  readonly chunks: number;
  /**
   * Per chunk c, at 2c and 2c + 1: Σ binary cross-entropy over its rows and the rows classified
   * correctly. Valid until the next step.
   */
  readonly chunkStats: Float64Array;
}

/** What an engine that sends steps over a network measured. */
export interface TransportReport {
  /** Worker processes serving the run at the end. */
  readonly processes: number;
  /** Bytes sent and received by the coordinator per step, on average. */
  readonly bytesPerStep: number;
  /** Milliseconds per step beyond the slowest worker's own work, on average. */
  readonly syncMs: number;
  /**
   * Rows of the last step's batch dealt to each worker process, largest first: in full batch, the
   * rows each holds.
   */
  readonly rowsPerProcess: readonly number[];
}

/** Who computes steps: the engines, one folder each under `src/engines/`. */
export type EngineKind = "local" | "threads" | "cluster";

/**
 * The coordinator's view of whoever computes a step. The epoch loop speaks only this protocol,
 * so the single-thread run, worker threads on shared memory and worker processes on other
 * machines train through the same loop and cannot drift apart.
 *
 * An engine starts from the parameters in its workspace and keeps them there: after `step` the
 * workspace's parameters are updated (unless the step only sums the gradient).
 */
export interface StepEngine {
  readonly kind: EngineKind;
  /** Threads or processes that compute partial gradients (0: the calling thread does). */
  readonly workers: number;
  /**
   * One synchronized step: every chunk's partial gradient, their sum through the reduction tree,
   * and the update of the parameters.
   */
  step(input: StepInput): Promise<StepOutput> | StepOutput;
  /**
   * Per computing thread, milliseconds spent so far in each phase: [compute, barrier wait,
   * reduce + update] (see `Phase`).
   */
  phaseMs(): number[][];
  /**
   * The wasm build its workers compute with, where the engine may pin another than it was given
   * (a cluster of runtimes that disagree on relaxed SIMD); the trainer then evaluates with it too.
   */
  readonly kernelVariant?: WasmVariant | null;
  /** For engines that send steps over a network: the wire and the wait so far. */
  transport?(): TransportReport;
  /** Releases every thread and process the engine holds; safe to call more than once. */
  close(): Promise<void>;
}
