import { WorkerError } from "../errors.ts";
import { waitForIdle } from "./cpu_share.ts";
import type { MicroMeasurement, TrainMeasurement } from "./jobs.ts";
import { measureQuietest } from "./measure_quietest.ts";
import { poolRounds } from "./pool_rounds.ts";
import { numpyEpoch, type NumpyTiming } from "./numpy_reference.ts";
import type { PlanItem } from "./plan.ts";
import type { Progress } from "./progress.ts";
import { runChild } from "./run_child.ts";
import { spread } from "./spread.ts";
import type { Workload } from "./workloads.ts";

/** A training measurement with the workload it measured. */
export interface TrainRun {
  readonly workload: Workload;
  readonly measurement: TrainMeasurement;
  /**
   * The timed epochs of each fresh process that the measurement pools (see `poolRounds`), in the
   * order the rounds ran; `measurement.epochMs` is their concatenation.
   */
  readonly roundEpochMs: readonly (readonly number[])[];
}

/** Every measurement of a run, by kind. */
export interface Measurements {
  readonly strong: TrainRun[];
  readonly weak: TrainRun[];
  /** Strong-scaling workloads on loopback clusters of worker processes. */
  readonly cluster: TrainRun[];
  readonly micro: MicroMeasurement[];
  /** One entry per round: the NumPy reference beside `backend`'s round of the workload. */
  readonly numpy: {
    readonly workload: Workload;
    readonly backend: string;
    readonly timing: NumpyTiming;
  }[];
  /** Why the NumPy reference is missing, when it is. */
  readonly numpyMissing?: string;
  /** How many times at most a training configuration was measured on a busy machine. */
  readonly attempts: number;
}

/** How `runPlan` treats a busy machine. */
export interface RunPlanOptions {
  /**
   * Measurements of one training configuration at most, waiting for the machine to go idle
   * before each retake; 1 measures each configuration once and never waits. Default `ATTEMPTS`.
   */
  readonly attempts?: number;
}

/** Above this share of the CPUs taken by other processes, a training measurement is retaken. */
export const BUSY_SHARE = 0.1;
/** Measurements of one configuration at most, on a busy machine, by default. */
export const ATTEMPTS = 3;
/** How long to wait for the machine to go idle before measuring a configuration again. */
const IDLE_WAIT_MS = 20_000;

/**
 * Takes the planned measurements one at a time (never two at once: they would share the cores),
 * then pools each configuration's rounds.
 * A training configuration during which other processes took more than `BUSY_SHARE` of the CPUs
 * is measured again once the machine is idle (or after `IDLE_WAIT_MS`), up to `attempts` times
 * in all, and the quietest measurement is kept.
 *
 * @example
 * ```ts
 * const measured = await runPlan(planBench(settings), createProgress(items.length));
 * ```
 */
export async function runPlan(
  items: readonly PlanItem[],
  progress: Progress,
  options: RunPlanOptions = {},
): Promise<Measurements> {
  const attempts = options.attempts ?? ATTEMPTS;
  const out: Measurements = { strong: [], weak: [], cluster: [], micro: [], numpy: [], attempts };
  let numpyMissing: string | undefined;
  try {
    for (const item of items) {
      progress.begin(item.label);
      if (item.group === "numpy") {
        if (numpyMissing) {
          progress.end("skipped");
          continue;
        }
        const timing = await numpyEpoch(item.shape);
        if (timing === null) {
          numpyMissing = "python3 with NumPy is not available";
          progress.end(numpyMissing);
          continue;
        }
        out.numpy.push({ workload: item.workload, backend: item.backend, timing });
        progress.end(`median ${formatMs(spread(timing.epochMs).median)}`);
        continue;
      }
      const { runtime, job, label } = item;
      const measurement = await measureQuietest(
        () =>
          runChild(runtime, job).catch((e: Error) => {
            throw new WorkerError(`${label}: ${e.message}`);
          }),
        {
          attempts,
          busyShare: BUSY_SHARE,
          beforeRetake: async (busy) => {
            progress.begin(
              `${label}: others took ${Math.round(busy * 100)} % of the CPUs; waiting`,
            );
            await waitForIdle(BUSY_SHARE, IDLE_WAIT_MS);
            progress.begin(`${label}, again`);
          },
        },
      );
      if (item.group === "micro" && measurement.kind === "micro") {
        out.micro.push(measurement);
        progress.end(`${measurement.results.length} benchmarks`);
      } else if (item.group !== "micro" && measurement.kind === "train") {
        out[item.group].push({
          workload: item.workload,
          measurement,
          roundEpochMs: [measurement.epochMs],
        });
        progress.end(`median ${formatMs(spread(measurement.epochMs).median)}`);
      }
    }
  } finally {
    progress.finish();
  }
  const pooled = {
    ...out,
    strong: poolRounds(out.strong),
    weak: poolRounds(out.weak),
    cluster: poolRounds(out.cluster),
  };
  return numpyMissing ? { ...pooled, numpyMissing } : pooled;
}

function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toPrecision(3)} ms`;
}
