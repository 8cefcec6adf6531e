import type { Dataset } from "../data/dataset.ts";
import { sweep, type SweepOptions } from "../sweep/sweep.ts";
import { logicalCpus } from "../runtime/process.ts";
import { otherCpuShare, sampleCpu, waitForIdle } from "./cpu_share.ts";

/** A sweep's wall time on each thread count, round by round. */
export interface SweepTimings {
  /** Per thread count (in the order given), the wall milliseconds of each round. */
  readonly ms: readonly (readonly number[])[];
  /** Per thread count and round, the share of the CPUs other processes took (null off Linux). */
  readonly otherShare: readonly (readonly (number | null)[])[];
  /**
   * Per thread count and round, the CPUs this process kept busy on average (its CPU time over
   * the wall time; null off Linux): what a shared machine let it use.
   */
  readonly cores: readonly (readonly (number | null)[])[];
  /** Whether every run's parameters were bit-identical across all thread counts and rounds. */
  readonly identical: boolean;
}

/** Before each round, wait until other processes take at most this share of the CPUs … */
const QUIET_SHARE = 0.1;
/** … or this long at most. */
const QUIET_WAIT_MS = 20_000;

/**
 * Times the same sweep on each of `threadCounts` (0: one run after another in this thread),
 * side by side: every round first waits (a bounded time) for the machine to quieten, then runs
 * each count once, starting at a different one each round, so that a busy spell of a shared
 * machine weighs on all counts alike. `onStart` and `onMeasured` hear each sweep.
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
  onStart?: (round: number, threads: number) => void,
  onMeasured?: (round: number, threads: number, ms: number, otherShare: number | null) => void,
): Promise<SweepTimings> {
  const ms = threadCounts.map(() => [] as number[]);
  const otherShare = threadCounts.map(() => [] as (number | null)[]);
  const cores = threadCounts.map(() => [] as (number | null)[]);
  let reference: string | null = null;
  let identical = true;
  for (let round = 0; round < rounds; round++) {
    await waitForIdle(QUIET_SHARE, QUIET_WAIT_MS);
    for (let k = 0; k < threadCounts.length; k++) {
      const index = (k + round) % threadCounts.length;
      const threads = threadCounts[index];
      onStart?.(round, threads);
      const before = sampleCpu();
      const result = await sweep(data, { ...options, threads });
      const after = sampleCpu();
      const share = before && after ? otherCpuShare(before, after) : null;
      const total = before && after ? after.total - before.total : 0;
      cores[index].push(total > 0 ? ((after!.own - before!.own) / total) * logicalCpus() : null);
      const hashes = [...result.runs].sort((a, b) => a.config - b.config || a.split - b.split)
        .map((r) => r.paramsHash).join(",");
      reference ??= hashes;
      identical &&= hashes === reference;
      ms[index].push(result.ms);
      otherShare[index].push(share);
      onMeasured?.(round, threads, result.ms, share);
    }
  }
  return { ms, otherShare, cores, identical };
}
