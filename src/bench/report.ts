import type { Dtype } from "../dtype.ts";
import type { TrainMeasurement } from "./jobs.ts";
import type { Machine } from "./machine.ts";
import type { Measurements, TrainRun } from "./run_plan.ts";
import { type Interval, pairedInterval, speedupInterval } from "./speedup_interval.ts";
import { type Spread, spread } from "./spread.ts";
import { FLOPS_FORMULA, flopsPerEpoch } from "./workloads.ts";

/** One configuration of strong scaling: the same workload at one worker count. */
export interface StrongRow {
  readonly workload: string;
  readonly runtime: string;
  readonly backend: string;
  readonly dtype: Dtype;
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly workers: number;
  readonly epochMs: Spread;
  /** Median epoch time at workers 0 over this one, same runtime and backend. */
  readonly speedup: number;
  /** Its `INTERVAL_LEVEL` bootstrap interval over the rounds; null when measured in one round. */
  readonly speedupInterval: Interval | null;
  /** Speedup per core used: speedup / min(max(workers, 1), logical cores). */
  readonly efficiency: number;
  readonly gflops: number;
  readonly epochsPerSecond: number;
  readonly samplesPerSecond: number;
  readonly peakRssBytes: number | null;
  /** (peak RSS − peak RSS at workers 0) / workers: what each worker adds. */
  readonly rssPerWorkerBytes: number | null;
  /** The share of the machine's CPUs other processes used while this ran. */
  readonly otherCpuShare: number | null;
}

/**
 * Where a training step's wall time goes, from the trainer's per-thread timers, averaged over the
 * steps of the timed epochs. Times are milliseconds per step.
 */
export interface PhaseRow {
  readonly workload: string;
  readonly runtime: string;
  readonly backend: string;
  readonly workers: number;
  readonly stepsPerEpoch: number;
  /** Wall time per step, as the coordinator sees it. */
  readonly wallMs: number;
  /** Computing partial gradients: the mean over computing threads. */
  readonly computeMs: number;
  /** The same for the thread that computed longest. */
  readonly computeMaxMs: number;
  /** Waiting until every chunk of the step is done, mean over threads. */
  readonly barrierMs: number;
  /** Reducing the partials and updating a parameter slice (one fused pass), mean over threads. */
  readonly reduceMs: number;
  /** The rest of the wall time: publishing the step, waking threads, the epoch loop's own work. */
  readonly coordinationMs: number;
  /** Synchronization cost: wall − the longest-computing thread's compute time. */
  readonly syncMs: number;
}

/** Weak scaling: rows grow with the workers. */
export interface WeakRow {
  readonly runtime: string;
  readonly backend: string;
  readonly workers: number;
  readonly samples: number;
  readonly epochMs: Spread;
  /** Median epoch time at workers 0 over this one; ideally 1 while workers ≤ cores. */
  readonly efficiency: number;
  readonly samplesPerSecond: number;
  readonly otherCpuShare: number | null;
}

export interface MicroRow {
  readonly runtime: string;
  readonly backend: string;
  readonly name: string;
  readonly shape: string;
  readonly rows?: number;
  readonly workers?: number;
  readonly us: Spread;
  readonly gflops?: number;
  /** Read bandwidth, for the reduction. */
  readonly gbPerSecond?: number;
}

/** NumPy's reference for one workload, its rounds pooled. */
export interface NumpyRow {
  readonly workload: string;
  readonly dtype: Dtype;
  readonly numpy: string;
  readonly blas: string;
  readonly threads: number | null;
  readonly epochMs: Spread;
  readonly gflops: number;
  readonly epochsPerSecond: number;
  /** shardnet at workers 0 on the same workload, per runtime and backend. */
  readonly beside: readonly NumpyRatio[];
}

/** One runtime and backend at workers 0 against NumPy. */
export interface NumpyRatio {
  readonly runtime: string;
  readonly backend: string;
  readonly epochsPerSecond: number;
  /** Its epochs/s over NumPy's: NumPy's median epoch time over its own. */
  readonly ratio: number;
  /**
   * The ratio's bootstrap interval over the rounds, each of which measured NumPy right after
   * the runtimes' workers-0 runs; null when measured in one round.
   */
  readonly interval: Interval | null;
}

/** Everything a benchmark run found: what the JSON output holds and the tables and charts show. */
/** A workload on a loopback cluster of worker processes, beside as many worker threads. */
export interface ClusterRow {
  readonly workload: string;
  readonly runtime: string;
  readonly backend: string;
  /** Worker processes, one thread each. */
  readonly processes: number;
  readonly epochMs: Spread;
  /** Median epoch time over that of `--workers processes` (same runtime and backend). */
  readonly vsThreads: number;
  /** The coordinator's wait per step beyond the slowest worker's work, mean over the run. */
  readonly syncMs: number;
  /** Bytes the coordinator sent and received per step, mean over the run. */
  readonly bytesPerStep: number;
  /** Median time per step (the epoch's median over its steps). */
  readonly stepMs: number;
  /**
   * What the cluster adds to a step: its median step time minus that of `--workers 0` (same
   * runtime and backend, measured in the same rounds); NaN without that run.
   */
  readonly overheadMs: number;
  /** The overhead's `INTERVAL_LEVEL` bootstrap interval over the rounds; null in one round. */
  readonly overheadInterval: Interval | null;
  /** Rows of a step dealt to each worker process, largest first (full batch: the rows it holds). */
  readonly rowsPerProcess: readonly number[];
  /** Peak resident memory of each worker process, largest first; null where unknown. */
  readonly workerPeakRssBytes: readonly (number | null)[];
}

export interface BenchReport {
  /** The command that produced it. */
  readonly command: string;
  readonly date: string;
  readonly machine: Machine;
  /** The runtimes' names and versions. */
  readonly runtimes: readonly string[];
  readonly flopsFormula: string;
  readonly strong: readonly StrongRow[];
  readonly phases: readonly PhaseRow[];
  readonly weak: readonly WeakRow[];
  readonly cluster: readonly ClusterRow[];
  readonly micro: readonly MicroRow[];
  readonly numpy: readonly NumpyRow[];
  readonly numpyMissing?: string;
  /** The children's raw measurements. */
  readonly measurements: Measurements;
}

/**
 * Derives the report's figures from the raw measurements.
 *
 * @example
 * ```ts
 * const report = buildReport(measured, describeMachine(), "deno task bench --quick");
 * ```
 */
export function buildReport(
  measured: Measurements,
  machine: Machine,
  command: string,
): BenchReport {
  const cores = machine.logicalCores;
  const runtimes = new Set([
    ...[...measured.strong, ...measured.weak].map((r) => r.measurement.runtime),
    ...measured.micro.map((m) => m.runtime),
  ]);
  return {
    command,
    date: new Date().toISOString(),
    machine,
    runtimes: [...runtimes],
    flopsFormula: FLOPS_FORMULA,
    strong: measured.strong.map((run) => strongRow(run, measured.strong, cores)),
    phases: measured.strong.map(phaseRow),
    weak: measured.weak.map((run) => weakRow(run, measured.weak)),
    cluster: measured.cluster.map((run) => clusterRow(run, measured.strong)),
    micro: measured.micro.flatMap((m) =>
      m.results.map((r): MicroRow => ({
        runtime: m.runtime,
        backend: m.backend,
        name: r.name,
        shape: r.shape,
        ...(r.rows !== undefined ? { rows: r.rows } : {}),
        ...(r.workers !== undefined ? { workers: r.workers } : {}),
        us: { min: r.minMs * 1000, median: r.medianMs * 1000, max: r.maxMs * 1000 },
        ...(r.flops !== undefined ? { gflops: r.flops / r.medianMs / 1e6 } : {}),
        ...(r.bytes !== undefined ? { gbPerSecond: r.bytes / r.medianMs / 1e6 } : {}),
      }))
    ),
    numpy: numpyRows(measured),
    ...(measured.numpyMissing ? { numpyMissing: measured.numpyMissing } : {}),
    measurements: measured,
  };
}

/**
 * NumPy's rounds pooled per workload, beside each runtime and backend at workers 0. NumPy's rounds
 * are tagged with the backend as asked for (`auto`, say), the runs with the one that ran; both
 * follow the order of `--backend`, so the k-th of each pair up.
 */
function numpyRows(measured: Measurements): NumpyRow[] {
  const workloads = [...new Set(measured.numpy.map((e) => e.workload.name))];
  return workloads.map((name) => {
    const entries = measured.numpy.filter((e) => e.workload.name === name);
    const { workload, timing } = entries[0];
    const epochMs = spread(entries.flatMap((e) => e.timing.epochMs));
    const roundsBy = new Map<string, number[][]>();
    for (const e of entries) {
      roundsBy.set(e.backend, [...(roundsBy.get(e.backend) ?? []), [...e.timing.epochMs]]);
    }
    const asked = [...roundsBy.values()];
    const base = measured.strong.filter((r) =>
      r.workload.name === name && r.measurement.workers === 0
    );
    const ran = [...new Set(base.map((r) => r.measurement.backend))];
    const beside = base.map((run): NumpyRatio => {
      const own = spread(run.measurement.epochMs).median;
      const rounds = asked[ran.indexOf(run.measurement.backend)] ?? [];
      const reference = rounds.length ? spread(rounds.flat()).median : epochMs.median;
      return {
        runtime: run.measurement.runtime,
        backend: run.measurement.backend,
        epochsPerSecond: 1000 / own,
        ratio: reference / own,
        interval: speedupInterval(rounds, run.roundEpochMs),
      };
    });
    return {
      workload: name,
      dtype: workload.dtype,
      numpy: timing.numpy,
      blas: timing.blas,
      threads: timing.threads,
      epochMs,
      gflops: gflops(workload.samples, workload.features, workload.hidden, epochMs.median),
      epochsPerSecond: 1000 / epochMs.median,
      beside,
    };
  });
}

/** The run of the same workload, runtime and backend at `workers`. */
function sibling(runs: readonly TrainRun[], of: TrainRun, workers: number): TrainRun | undefined {
  const m = of.measurement;
  return runs.find((r) =>
    r.workload.name === of.workload.name && r.measurement.runtime === m.runtime &&
    r.measurement.backend === m.backend && r.measurement.workers === workers
  );
}

function strongRow(run: TrainRun, runs: readonly TrainRun[], cores: number): StrongRow {
  const m = run.measurement;
  const epochMs = spread(m.epochMs);
  const baseRun = sibling(runs, run, 0);
  const base = baseRun?.measurement;
  const speedup = base ? spread(base.epochMs).median / epochMs.median : NaN;
  const basePeak = base?.peakRssBytes ?? null;
  return {
    workload: run.workload.name,
    runtime: m.runtime,
    backend: m.backend,
    dtype: run.workload.dtype,
    samples: m.samples,
    features: m.features,
    hidden: m.hidden,
    workers: m.workers,
    epochMs,
    speedup,
    speedupInterval: baseRun ? speedupInterval(baseRun.roundEpochMs, run.roundEpochMs) : null,
    efficiency: speedup / Math.min(Math.max(m.workers, 1), cores),
    gflops: gflops(m.samples, m.features, m.hidden, epochMs.median),
    epochsPerSecond: 1000 / epochMs.median,
    samplesPerSecond: (m.samples * 1000) / epochMs.median,
    peakRssBytes: m.peakRssBytes,
    rssPerWorkerBytes: m.workers > 0 && m.peakRssBytes !== null && basePeak !== null
      ? (m.peakRssBytes - basePeak) / m.workers
      : null,
    otherCpuShare: m.otherCpuShare,
  };
}

function phaseRow(run: TrainRun): PhaseRow {
  const m: TrainMeasurement = run.measurement;
  const perStep = (ms: number) => ms / m.steps;
  const mean = (phase: number) =>
    perStep(m.phaseMs.reduce((s, t) => s + t[phase], 0) / m.phaseMs.length);
  const wallMs = perStep(m.timedMs);
  const computeMs = mean(0);
  const barrierMs = mean(1);
  const reduceMs = mean(2);
  const computeMaxMs = perStep(Math.max(...m.phaseMs.map((t) => t[0])));
  return {
    workload: run.workload.name,
    runtime: m.runtime,
    backend: m.backend,
    workers: m.workers,
    stepsPerEpoch: m.steps / m.epochMs.length,
    wallMs,
    computeMs,
    computeMaxMs,
    barrierMs,
    reduceMs,
    coordinationMs: wallMs - computeMs - barrierMs - reduceMs,
    syncMs: wallMs - computeMaxMs,
  };
}

function clusterRow(run: TrainRun, strong: readonly TrainRun[]): ClusterRow {
  const m = run.measurement;
  const processes = m.transport?.processes ?? 0;
  const epochMs = spread(m.epochMs);
  const threads = sibling(strong, run, processes);
  const stepsPerEpoch = (x: TrainMeasurement) => x.steps / x.epochMs.length;
  const stepMs = epochMs.median / stepsPerEpoch(m);
  const inProcess = sibling(strong, run, 0);
  const baseSteps = inProcess ? stepsPerEpoch(inProcess.measurement) : NaN;
  const overheadMs = inProcess
    ? stepMs - spread(inProcess.measurement.epochMs).median / baseSteps
    : NaN;
  const overheadInterval = inProcess
    ? pairedInterval(
      inProcess.roundEpochMs,
      run.roundEpochMs,
      (base, cluster) => cluster / stepsPerEpoch(m) - base / baseSteps,
    )
    : null;
  const peaks = m.transport?.workerPeakRssBytes ?? [];
  return {
    workload: run.workload.name,
    runtime: m.runtime,
    backend: m.backend,
    processes,
    epochMs,
    vsThreads: threads ? epochMs.median / spread(threads.measurement.epochMs).median : NaN,
    syncMs: m.transport?.syncMs ?? NaN,
    bytesPerStep: m.transport?.bytesPerStep ?? NaN,
    stepMs,
    overheadMs,
    overheadInterval,
    rowsPerProcess: m.transport?.rowsPerProcess ?? [],
    workerPeakRssBytes: [...peaks].sort((a, b) => (b ?? -1) - (a ?? -1)),
  };
}

function weakRow(run: TrainRun, runs: readonly TrainRun[]): WeakRow {
  const m = run.measurement;
  const epochMs = spread(m.epochMs);
  const base = runs.find((r) =>
    r.measurement.workers === 0 && r.measurement.runtime === m.runtime &&
    r.measurement.backend === m.backend
  );
  return {
    runtime: m.runtime,
    backend: m.backend,
    workers: m.workers,
    samples: m.samples,
    epochMs,
    efficiency: base ? spread(base.measurement.epochMs).median / epochMs.median : NaN,
    samplesPerSecond: (m.samples * 1000) / epochMs.median,
    otherCpuShare: m.otherCpuShare,
  };
}

function gflops(m: number, n: number, h: number, epochMs: number): number {
  return flopsPerEpoch(m, n, h) / epochMs / 1e6;
}
