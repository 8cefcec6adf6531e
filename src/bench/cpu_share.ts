import { readFileSync } from "node:fs";

/** CPU time counters from Linux's /proc, in clock ticks. */
export interface CpuSample {
  /** All CPUs together: ticks not idle, and all ticks. */
  readonly busy: number;
  readonly total: number;
  /** This process, all its threads. */
  readonly own: number;
}

/**
 * Reads the machine's and this process's CPU time; null where /proc is absent (not Linux).
 *
 * @example
 * ```ts
 * const before = sampleCpu();
 * ```
 */
export function sampleCpu(): CpuSample | null {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9)
      .map(Number);
    const idle = cpu[3] + cpu[4];
    const total = cpu.reduce((a, b) => a + b, 0);
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the command name: state is field 3 of proc(5), utime 14 and stime 15.
    const own = Number(fields[11]) + Number(fields[12]);
    return { busy: total - idle, total, own };
  } catch {
    return null;
  }
}

/**
 * The share of the machine's CPU capacity that other processes used between two samples, from 0
 * (this process had the machine to itself) to 1: a benchmark on a shared machine reports it so
 * that a reader can tell a slow configuration from a busy machine.
 *
 * @example
 * ```ts
 * otherCpuShare(before, sampleCpu()!); // 0.02
 * ```
 */
export function otherCpuShare(before: CpuSample, after: CpuSample): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  const others = after.busy - before.busy - (after.own - before.own);
  return Math.min(1, Math.max(0, others / total));
}

/** How long each look at the machine's load lasts while waiting for it to go idle. */
const IDLE_PROBE_MS = 500;

/**
 * Waits until other processes take at most `share` of the CPUs over half a second, or until
 * `maxMs` has passed; resolves to whether the machine went idle.
 *
 * @example
 * ```ts
 * if (!await waitForIdle(0.1, 20_000)) console.error("the machine stayed busy");
 * ```
 */
export async function waitForIdle(share: number, maxMs: number): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  for (;;) {
    const before = sampleCpu();
    await new Promise((resolve) => setTimeout(resolve, IDLE_PROBE_MS));
    const after = sampleCpu();
    if (!before || !after || otherCpuShare(before, after) <= share) return true;
    if (performance.now() >= deadline) return false;
  }
}
