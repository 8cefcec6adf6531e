import type { Job, Shape } from "./jobs.ts";
import type { NumpyShape } from "./numpy_reference.ts";
import type { ChildRuntime } from "./run_child.ts";
import type { Workload } from "./workloads.ts";

/** Everything one benchmark run measures. */
export interface BenchSettings {
  readonly workloads: readonly Workload[];
  /** Worker counts for strong and weak scaling, ascending, 0 (the baseline) first. */
  readonly workers: readonly number[];
  readonly runtimes: readonly ChildRuntime[];
  /** `--backend` choices, each measured in turn. */
  readonly backends: readonly string[];
  /** Weak scaling: this shape with `samples` rows per worker (workers 0 and 1 get the same). */
  readonly weak: Workload;
  /** tinybench's time budget per micro-benchmark task. */
  readonly microTaskMs: number;
}

/** One measurement to take, in a child process (or python3 for NumPy). */
export type PlanItem =
  | {
    readonly group: "strong" | "weak" | "cluster";
    readonly label: string;
    readonly runtime: ChildRuntime;
    readonly workload: Workload;
    readonly job: Job;
  }
  | {
    readonly group: "micro";
    readonly label: string;
    readonly runtime: ChildRuntime;
    readonly job: Job;
  }
  | {
    readonly group: "numpy";
    readonly label: string;
    readonly workload: Workload;
    /** The backend whose round this one runs beside. */
    readonly backend: string;
    readonly shape: NumpyShape;
  };

/**
 * The measurements of a run, in the order they are taken: strong scaling (Deno and Bun
 * back to back for each configuration, so a change in the machine's load hits both alike, and
 * the worker counts in each workload's rounds, each round ending with the NumPy reference's share
 * of the timed epochs, skipped where python3 or NumPy is missing), weak scaling (likewise, without
 * NumPy), then micro-benchmarks. `poolRounds` merges the rounds.
 *
 * @example
 * ```ts
 * for (const item of planBench(settings)) console.log(item.label);
 * ```
 */
export function planBench(s: BenchSettings): PlanItem[] {
  const items: PlanItem[] = [];
  /** One backend's scaling measurements of `workloadFor(workers)`, round after round. */
  const scaling = (
    group: "strong" | "weak",
    backend: string,
    workloadFor: (workers: number) => Workload,
    name: (workload: Workload) => string,
  ) => {
    const { rounds: planned } = workloadFor(0);
    for (let round = 0; round < planned; round++) {
      for (const workers of s.workers) {
        const workload = workloadFor(workers);
        // Rounds take equal shares of the timed epochs; a round with none is not run.
        const rounds = Math.min(planned, workload.repeats);
        if (round >= rounds) continue;
        const repeats = Math.floor(((round + 1) * workload.repeats) / rounds) -
          Math.floor((round * workload.repeats) / rounds);
        for (const runtime of s.runtimes) {
          items.push({
            group,
            label: `${name(workload)} · ${runtime.kind} · ${backend} · workers ${workers}` +
              (rounds > 1 ? ` · round ${round + 1}/${rounds}` : ""),
            runtime,
            workload,
            job: trainJob({ ...workload, repeats }, backend, workers),
          });
        }
      }
      if (group !== "strong") continue;
      const workload = workloadFor(0);
      const rounds = Math.min(planned, workload.repeats);
      if (round >= rounds) continue;
      const repeats = Math.floor(((round + 1) * workload.repeats) / rounds) -
        Math.floor((round * workload.repeats) / rounds);
      // NumPy in every round too, so that its ratio to each runtime is measured side by side.
      items.push({
        group: "numpy",
        label: `${name(workload)} · numpy` + (rounds > 1 ? ` · round ${round + 1}/${rounds}` : ""),
        workload,
        backend,
        shape: {
          samples: workload.samples,
          features: workload.features,
          hidden: workload.hidden,
          dtype: workload.dtype,
          warmup: workload.warmup,
          repeats,
        },
      });
      for (const processes of workload.cluster ?? []) {
        for (const runtime of s.runtimes) {
          items.push({
            group: "cluster",
            label: `${name(workload)} · ${runtime.kind} · ${backend} · cluster ${processes}×1` +
              (rounds > 1 ? ` · round ${round + 1}/${rounds}` : ""),
            runtime,
            workload,
            job: {
              ...trainJob({ ...workload, repeats }, backend, 0),
              cluster: { processes, threads: 1 },
            } as Job,
          });
        }
      }
    }
  };
  for (const workload of s.workloads) {
    for (const backend of s.backends) {
      scaling("strong", backend, () => workload, (w) => w.name);
    }
  }
  for (const backend of s.backends) {
    scaling(
      "weak",
      backend,
      (workers) => ({ ...s.weak, samples: s.weak.samples * Math.max(1, workers) }),
      (w) => `weak ${w.samples} rows`,
    );
  }
  const shapes: Shape[] = s.workloads.map(shapeOf);
  for (const backend of s.backends) {
    for (const runtime of s.runtimes) {
      items.push({
        group: "micro",
        label: `micro-benchmarks · ${runtime.kind} · ${backend}`,
        runtime,
        job: {
          kind: "micro",
          shapes,
          backend,
          workers: s.workers.filter((w) => w > 0),
          taskMs: s.microTaskMs,
        },
      });
    }
  }
  return items;
}

function trainJob(workload: Workload, backend: string, workers: number): Job {
  return {
    kind: "train",
    shape: shapeOf(workload),
    backend,
    workers,
    warmup: workload.warmup,
    repeats: workload.repeats,
  };
}

function shapeOf(w: Workload): Shape {
  return {
    name: w.name,
    data: w.data,
    samples: w.samples,
    features: w.features,
    hidden: w.hidden,
    dtype: w.dtype,
  };
}
