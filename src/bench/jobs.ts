/**
 * What the benchmark asks a child process to measure and what the child answers, as plain JSON:
 * every configuration runs in a fresh process, so its peak memory is its own and no run warms up
 * or disturbs another.
 */
import type { Dtype } from "../dtype.ts";

/** A network and data set, as the child rebuilds it. */
export interface Shape {
  readonly name: string;
  /** A CSV path or a generator name, as `--data` takes it. */
  readonly data: string;
  /** Rows and features of a generated set (a CSV brings its own). */
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly dtype: Dtype;
}

/** Train `shape` for `warmup + repeats` full-batch epochs on `workers` threads. */
export interface TrainJob {
  readonly kind: "train";
  readonly shape: Shape;
  readonly backend: string;
  readonly workers: number;
  /** Train on a cluster of this many worker processes of this many threads on this machine. */
  readonly cluster?: { readonly processes: number; readonly threads: number };
  readonly warmup: number;
  readonly repeats: number;
}

/**
 * Micro-benchmarks with tinybench: each kernel on one chunk of each shape, the reduction, and one
 * synchronized step round-trip at each worker count.
 */
export interface MicroJob {
  readonly kind: "micro";
  readonly shapes: readonly Shape[];
  readonly backend: string;
  readonly workers: readonly number[];
  /** Time budget per benchmark task. */
  readonly taskMs: number;
}

export type Job = TrainJob | MicroJob;

/** What a train job measured. */
export interface TrainMeasurement {
  readonly kind: "train";
  /** e.g. `deno 2.9.6`. */
  readonly runtime: string;
  /** The backend that ran (what `auto` resolved to). */
  readonly backend: string;
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly workers: number;
  readonly warmupMs: readonly number[];
  /** Wall time of each timed epoch. */
  readonly epochMs: readonly number[];
  /** Steps in the timed epochs. */
  readonly steps: number;
  /** Wall time of the timed epochs. */
  readonly timedMs: number;
  /** Per computing thread, [compute, barrier wait, reduce + update] ms over the timed epochs. */
  readonly phaseMs: readonly (readonly number[])[];
  /** The share of the machine's CPUs other processes used during the timed epochs. */
  readonly otherCpuShare: number | null;
  /** Resident memory once the data set is loaded, before training. */
  readonly rssBeforeBytes: number | null;
  /** Peak resident memory of the whole process, all threads. */
  readonly peakRssBytes: number | null;
  /** On a cluster: worker processes, the coordinator's bytes and synchronization per step. */
  readonly transport?: {
    readonly processes: number;
    readonly bytesPerStep: number;
    readonly syncMs: number;
    /** Rows of a step dealt to each worker process, largest first. */
    readonly rowsPerProcess: readonly number[];
    /** Peak resident memory of each worker process (null where unknown), in its order. */
    readonly workerPeakRssBytes: readonly (number | null)[];
  };
}

/** One micro-benchmark: time per call over tinybench's samples. */
export interface MicroResult {
  /** What ran: a kernel's name, `reduce+update`, `update`, `step round-trip`. */
  readonly name: string;
  readonly shape: string;
  /** Worker threads, for the step round-trip. */
  readonly workers?: number;
  /** Rows of the chunk a kernel ran on. */
  readonly rows?: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly samples: number;
  /** Floating-point operations per call (kernels), for GFLOP/s. */
  readonly flops?: number;
  /** Bytes read per call (the reduction), for GB/s. */
  readonly bytes?: number;
}

export interface MicroMeasurement {
  readonly kind: "micro";
  readonly runtime: string;
  readonly backend: string;
  readonly results: readonly MicroResult[];
}

export type Measurement = TrainMeasurement | MicroMeasurement;
