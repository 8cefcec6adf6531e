import type { Dtype } from "../dtype.ts";
import type { BackendName } from "../kernels/select.ts";

/** What `autoWorkers` decides from: one step's batch and where it runs. */
export interface StepShape {
  /** Rows of the run's largest batch. */
  readonly batchRows: number;
  /** Chunks of such a batch (`chunkCount(batchRows, chunkRows)`). */
  readonly chunks: number;
  readonly features: number;
  readonly hidden: number;
  readonly dtype: Dtype;
  readonly backend: BackendName;
  /** Logical CPUs of the machine. */
  readonly cpus: number;
}

/** The worker count `auto` picked, and the one line that says why. */
export interface WorkersChoice {
  readonly workers: number;
  readonly note: string;
}

/**
 * Floating-point operations per millisecond one thread sustains in a chunk's kernels, by backend
 * and precision: the compute phase of single-thread full-batch xor runs (16384 × 64 features,
 * 32 hidden; 4096 × 256, 64 hidden) on the project's 2-core machine, the lower of Deno's and
 * Bun's, rounded down.
 */
const FLOPS_PER_MS: Record<BackendName, Record<Dtype, number>> = {
  blas: { f32: 30e6, f64: 24e6 },
  wasm: { f32: 20e6, f64: 11e6 },
  js: { f32: 1e6, f64: 1e6 },
};

/**
 * What a step on worker threads costs beyond its compute: waking the workers, the barrier
 * between the chunks and the reduction, and the coordinator's wait. Measured as the barrier and
 * wake-up share of small-batch steps on 2 cores (0.14 to 0.37 ms per step): the upper end, since
 * a shared machine wakes threads late.
 */
export const SYNC_MS_PER_STEP = 0.35;

/** Threads must save at least this share of a step to be chosen over the calling thread. */
const MIN_GAIN = 0.15;

/**
 * The worker-thread count for `workers: "auto"`, a pure function of the step's shape: the
 * count whose estimated step time — the compute of the busiest thread's chunks plus
 * `SYNC_MS_PER_STEP` — is least, or 0 (the calling thread computes) unless threads save at least
 * `MIN_GAIN` of the step. At most one thread per logical CPU and per chunk. Any count trains the
 * same bits, because the chunking depends on the batch alone; this only decides the speed.
 *
 * @example
 * ```ts
 * autoWorkers({ batchRows: 569, chunks: 1, features: 30, hidden: 16, dtype: "f64", backend: "blas", cpus: 2 }).workers; // 0
 * ```
 */
export function autoWorkers(shape: StepShape): WorkersChoice {
  const { batchRows: b, features: n, hidden: h, chunks } = shape;
  const computeMs = (4 * b * n * h + 6 * b * h) / FLOPS_PER_MS[shape.backend][shape.dtype];
  const most = Math.max(0, Math.min(shape.cpus, chunks));
  let best = 0;
  let bestMs = computeMs;
  for (let w = 1; w <= most; w++) {
    const ms = (computeMs * Math.ceil(chunks / w)) / chunks + SYNC_MS_PER_STEP;
    if (ms < bestMs) {
      best = w;
      bestMs = ms;
    }
  }
  const estimate = `a step of ${b} rows × ${n} features × ${h} hidden computes in about ` +
    `${formatMs(computeMs)} in one thread`;
  if (best === 0 || bestMs > (1 - MIN_GAIN) * computeMs) {
    return {
      workers: 0,
      note: `workers auto: 0, the calling thread (${estimate}; threads add about ` +
        `${formatMs(SYNC_MS_PER_STEP)} of synchronization per step and save too little)`,
    };
  }
  return {
    workers: best,
    note: `workers auto: ${best} (${estimate}; ${best} threads share its ${chunks} chunks ` +
      `in about ${formatMs(bestMs)} with synchronization)`,
  };
}

function formatMs(ms: number): string {
  return ms < 1 ? `${ms.toFixed(2)} ms` : `${ms.toPrecision(3)} ms`;
}
