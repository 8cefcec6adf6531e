import type { Dataset } from "../data/dataset.ts";
import { GENERATOR_KINDS } from "../data/generators.ts";
import { loadDataset } from "../data/load.ts";
import type { BackendChoice } from "../kernels/select.ts";
import { runtimeName } from "../runtime/process.ts";
import { train } from "../train/train.ts";
import type { ClusterOptions } from "../engines/cluster/cluster_engine.ts";
import { startLocalCluster } from "../engines/cluster/local_cluster.ts";
import { currentRuntime } from "../runtime/runtimes.ts";
import type { Shape, TrainJob, TrainMeasurement } from "./jobs.ts";
import { type CpuSample, otherCpuShare, sampleCpu } from "./cpu_share.ts";
import { residentBytes } from "./process_memory.ts";

/**
 * Loads a shape's data set the way `train --data` would, with the benchmark's fixed seed.
 *
 * @example
 * ```ts
 * const rows = loadShape({ name: "L", data: "xor", samples: 32768, features: 256, hidden: 64, dtype: "f32" });
 * ```
 */
export function loadShape(shape: Shape): Dataset {
  return loadDataset({
    source: shape.data,
    samples: shape.samples,
    features: shape.features,
    seed: 1,
  });
}

/**
 * Rows and features of a shape's data set, without generating it (a CSV is read).
 *
 * @example
 * ```ts
 * shapeSize(smallShape); // { samples: 569, features: 30 }
 * ```
 */
export function shapeSize(shape: Shape): { samples: number; features: number } {
  if ((GENERATOR_KINDS as readonly string[]).includes(shape.data)) {
    return { samples: shape.samples, features: shape.features };
  }
  const { samples, features } = loadShape(shape);
  return { samples, features };
}

/**
 * Runs a train job in this process through the library's `train`, timing each epoch with its
 * `onEpoch` report and the phases with the trainer's own per-thread timers.
 *
 * @example
 * ```ts
 * const m = await measureTraining({ kind: "train", shape, backend: "auto", workers: 2, warmup: 1, repeats: 5 });
 * ```
 */
export async function measureTraining(job: TrainJob): Promise<TrainMeasurement> {
  if (!job.cluster) return await measureOn(job, undefined);
  await using cluster = await startLocalCluster({
    processes: job.cluster.processes,
    threads: job.cluster.threads,
    runtimes: [currentRuntime()],
    workerLogs: "ignore",
  });
  const m = await measureOn(job, { url: cluster.url, minWorkers: job.cluster.processes });
  // The workers are still there (they serve until stopped): their peak memory so far is the run's.
  const workerPeakRssBytes = cluster.workerPids.map((pid) => residentBytes("VmHWM", pid));
  return m.transport ? { ...m, transport: { ...m.transport, workerPeakRssBytes } } : m;
}

async function measureOn(
  job: TrainJob,
  cluster: ClusterOptions | undefined,
): Promise<TrainMeasurement> {
  const rows = loadShape(job.shape);
  const rssBeforeBytes = residentBytes("VmRSS");
  const epochs: number[] = [];
  const last = job.warmup + job.repeats;
  // The timed window's edges: phase timers and CPU counters when warm-up ends and at the end.
  const edges: { phases?: number[][]; cpu?: CpuSample | null; cpuEnd?: CpuSample | null } = {};
  if (job.warmup === 0) edges.cpu = sampleCpu();
  const result = await train(rows, {
    hidden: job.shape.hidden,
    epochs: last,
    dtype: job.shape.dtype,
    workers: job.workers,
    ...(cluster ? { cluster } : {}),
    backend: job.backend as BackendChoice,
    onEpoch: (report, _snapshot, phaseMs) => {
      epochs.push(report.ms);
      if (report.epoch === job.warmup) {
        edges.phases = phaseMs();
        edges.cpu = sampleCpu();
      }
      if (report.epoch === last) edges.cpuEnd = sampleCpu();
    },
  });
  const epochMs = epochs.slice(job.warmup);
  const { phases, cpu, cpuEnd } = edges;
  return {
    kind: "train",
    runtime: runtimeName(),
    backend: result.backend,
    samples: rows.samples,
    features: rows.features,
    hidden: job.shape.hidden,
    workers: job.workers,
    warmupMs: epochs.slice(0, job.warmup),
    epochMs,
    steps: (result.steps / epochs.length) * job.repeats,
    timedMs: epochMs.reduce((a, b) => a + b, 0),
    phaseMs: result.phaseMs.map((t, i) => t.map((ms, p) => ms - (phases?.[i][p] ?? 0))),
    otherCpuShare: cpu && cpuEnd ? otherCpuShare(cpu, cpuEnd) : null,
    rssBeforeBytes,
    peakRssBytes: residentBytes("VmHWM"),
    ...(result.transport ? { transport: { ...result.transport, workerPeakRssBytes: [] } } : {}),
  };
}
