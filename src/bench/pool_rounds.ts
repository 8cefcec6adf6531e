import type { TrainMeasurement } from "./jobs.ts";
import type { TrainRun } from "./run_plan.ts";

/**
 * Merges the rounds of each configuration (workload, runtime, backend, workers) into one
 * measurement, in first-seen order: timed epochs, steps and phase times pooled, warm-up epochs
 * of the first round, the busiest round's share of others' CPU, the largest memory figures.
 *
 * @example
 * ```ts
 * const strong = poolRounds(measured.strong); // one run per configuration
 * ```
 */
export function poolRounds(runs: readonly TrainRun[]): TrainRun[] {
  const pooled = new Map<string, TrainRun>();
  for (const run of runs) {
    const m = run.measurement;
    const key = [run.workload.name, m.runtime, m.backend, m.workers, m.transport?.processes]
      .join("\u0000");
    const earlier = pooled.get(key);
    pooled.set(
      key,
      earlier
        ? {
          workload: earlier.workload,
          measurement: pool(earlier.measurement, m),
          roundEpochMs: [...earlier.roundEpochMs, ...run.roundEpochMs],
        }
        : run,
    );
  }
  return [...pooled.values()];
}

function pool(a: TrainMeasurement, b: TrainMeasurement): TrainMeasurement {
  const larger = (x: number | null, y: number | null) =>
    x === null ? y : y === null ? x : Math.max(x, y);
  const rounds = (x: TrainMeasurement) => x.epochMs.length;
  const mean = (x: number, y: number) => (x * rounds(a) + y * rounds(b)) / (rounds(a) + rounds(b));
  return {
    ...a,
    ...(a.transport && b.transport
      ? {
        transport: {
          processes: a.transport.processes,
          bytesPerStep: mean(a.transport.bytesPerStep, b.transport.bytesPerStep),
          syncMs: mean(a.transport.syncMs, b.transport.syncMs),
          rowsPerProcess: a.transport.rowsPerProcess,
          workerPeakRssBytes: a.transport.workerPeakRssBytes.map((x, i) =>
            larger(x, b.transport!.workerPeakRssBytes[i] ?? null)
          ),
        },
      }
      : {}),
    epochMs: [...a.epochMs, ...b.epochMs],
    steps: a.steps + b.steps,
    timedMs: a.timedMs + b.timedMs,
    phaseMs: a.phaseMs.map((thread, t) => thread.map((ms, p) => ms + b.phaseMs[t][p])),
    otherCpuShare: larger(a.otherCpuShare, b.otherCpuShare),
    rssBeforeBytes: larger(a.rssBeforeBytes, b.rssBeforeBytes),
    peakRssBytes: larger(a.peakRssBytes, b.peakRssBytes),
  };
}
