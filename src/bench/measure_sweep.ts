import type { Dataset } from "../data/dataset.ts";
import { sweep, type SweepOptions } from "../sweep/sweep.ts";
import { SweepThreads } from "../sweep/sweep_threads.ts";
import { logicalCpus } from "../runtime/process.ts";
import { otherCpuShare, sampleCpu, waitForIdle } from "./cpu_share.ts";

/**
 * How a sweep is trained: `threads` worker threads (0: one run after another in the calling
 * thread), started for each sweep, or `kept` from round to round (`SweepThreads`), warm as the
 * calling thread is after its first round.
 */
export interface SweepSetting {
  readonly threads: number;
  readonly kept: boolean;
}

/** A sweep's wall time in each setting, round by round. */
export interface SweepTimings {
  /** Per setting (in the order given), the wall milliseconds of each round. */
  readonly ms: readonly (readonly number[])[];
  /** Per setting and round, the share of the CPUs other processes took (null off Linux). */
  readonly otherShare: readonly (readonly (number | null)[])[];
  /**
   * Per setting and round, the CPUs this process kept busy on average (its CPU time over
   * the wall time; null off Linux): what a shared machine let it use.
   */
  readonly cores: readonly (readonly (number | null)[])[];
  /** Whether every run's parameters were bit-identical across all settings and rounds. */
  readonly identical: boolean;
}

/** Before each round, wait until other processes take at most this share of the CPUs … */
const QUIET_SHARE = 0.1;
/** … or this long at most. */
const QUIET_WAIT_MS = 20_000;

/**
 * Times the same sweep in each of `settings`, side by side: every round first waits (a bounded
 * time) for the machine to quieten, then runs each setting once, starting at a different one each
 * round, so that a busy spell of a shared machine weighs on all settings alike. The first
 * `warmupRounds` rounds are not timed: the calling thread and kept threads reach their steady
 * speed over the first few sweeps (the code they run compiled and optimized), while threads
 * started per sweep start cold in every round. `onStart` and `onMeasured` hear each timed sweep.
 *
 * @example
 * ```ts
 * const settings = [{ threads: 0, kept: false }, { threads: 2, kept: true }];
 * const { ms } = await measureSweep(data, { base, axes, evaluation }, settings, 5, 2);
 * ```
 */
export async function measureSweep(
  data: Dataset,
  options: Omit<SweepOptions, "threads">,
  settings: readonly SweepSetting[],
  rounds: number,
  warmupRounds: number,
  onStart?: (round: number, setting: SweepSetting) => void,
  onMeasured?: (
    round: number,
    setting: SweepSetting,
    ms: number,
    otherShare: number | null,
  ) => void,
): Promise<SweepTimings> {
  const ms = settings.map(() => [] as number[]);
  const otherShare = settings.map(() => [] as (number | null)[]);
  const cores = settings.map(() => [] as (number | null)[]);
  const kept = settings.map((s) => s.kept && s.threads > 0 ? new SweepThreads(s.threads) : null);
  let reference: string | null = null;
  let identical = true;
  try {
    for (let round = -warmupRounds; round < rounds; round++) {
      const timed = round >= 0;
      if (timed) await waitForIdle(QUIET_SHARE, QUIET_WAIT_MS);
      for (let k = 0; k < settings.length; k++) {
        const index = (((k + round) % settings.length) + settings.length) % settings.length;
        const setting = settings[index];
        if (timed) onStart?.(round, setting);
        const before = sampleCpu();
        const result = await sweep(data, { ...options, threads: kept[index] ?? setting.threads });
        const after = sampleCpu();
        const hashes = [...result.runs].sort((a, b) => a.config - b.config || a.split - b.split)
          .map((r) => r.paramsHash).join(",");
        reference ??= hashes;
        identical &&= hashes === reference;
        if (!timed) continue;
        const share = before && after ? otherCpuShare(before, after) : null;
        const total = before && after ? after.total - before.total : 0;
        cores[index].push(total > 0 ? ((after!.own - before!.own) / total) * logicalCpus() : null);
        ms[index].push(result.ms);
        otherShare[index].push(share);
        onMeasured?.(round, setting, result.ms, share);
      }
    }
  } finally {
    for (const threads of kept) threads?.close();
  }
  return { ms, otherShare, cores, identical };
}
