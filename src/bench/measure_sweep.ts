import type { Dataset } from "../data/dataset.ts";
import { sweep, type SweepOptions } from "../sweep/sweep.ts";

/** A sweep's wall time on each thread count, round by round. */
export interface SweepTimings {
  /** Per thread count (in the order given), the wall milliseconds of each round. */
  readonly ms: readonly (readonly number[])[];
  /** Whether every run's parameters were bit-identical across all thread counts and rounds. */
  readonly identical: boolean;
}

/**
 * Times the same sweep on each of `threadCounts` (0: one run after another in this thread),
 * side by side: every round runs each count once, starting at a different one each round, so
 * a slow spell of a shared machine weighs on all counts alike. `onMeasured` hears each sweep.
 *
 * @example
 * ```ts
 * const { ms } = await measureSweep(data, { base, axes, evaluation }, [0, 2], 5);
 * ```
 */
export async function measureSweep(
  data: Dataset,
  options: Omit<SweepOptions, "threads">,
  threadCounts: readonly number[],
  rounds: number,
  onMeasured?: (round: number, threads: number, ms: number) => void,
  onStart?: (round: number, threads: number) => void,
): Promise<SweepTimings> {
  const ms = threadCounts.map(() => [] as number[]);
  let reference: string | null = null;
  let identical = true;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < threadCounts.length; k++) {
      const index = (k + round) % threadCounts.length;
      const threads = threadCounts[index];
      onStart?.(round, threads);
      const result = await sweep(data, { ...options, threads });
      const hashes = [...result.runs].sort((a, b) => a.config - b.config || a.split - b.split)
        .map((r) => r.paramsHash).join(",");
      reference ??= hashes;
      identical &&= hashes === reference;
      ms[index].push(result.ms);
      onMeasured?.(round, threads, result.ms);
    }
  }
  return { ms, identical };
}
