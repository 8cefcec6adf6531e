import type { Measurement } from "./jobs.ts";

/** How `measureQuietest` decides to measure again. */
export interface QuietestOptions {
  /** Measurements at most; 1 measures once and never waits. */
  readonly attempts: number;
  /** Above this share of the CPUs taken by other processes, a training measurement is retaken. */
  readonly busyShare: number;
  /** Called before each retake with the share the kept measurement saw; resolves when to go on. */
  readonly beforeRetake: (busy: number) => Promise<unknown>;
}

/**
 * Measures with `measure` until a training measurement saw other processes take at most
 * `busyShare` of the CPUs, or `attempts` measurements were taken, and returns the one that saw
 * the smallest share (the first among equals). Micro-benchmark measurements carry no share and
 * are taken once.
 *
 * @example
 * ```ts
 * const m = await measureQuietest(() => runChild(runtime, job), {
 *   attempts: 3,
 *   busyShare: 0.1,
 *   beforeRetake: () => waitForIdle(0.1, 20_000),
 * });
 * ```
 */
export async function measureQuietest(
  measure: () => Promise<Measurement>,
  options: QuietestOptions,
): Promise<Measurement> {
  let best = await measure();
  for (let attempt = 2; attempt <= options.attempts; attempt++) {
    const busy = best.kind === "train" ? best.otherCpuShare ?? 0 : 0;
    if (busy <= options.busyShare) break;
    await options.beforeRetake(busy);
    const next = await measure();
    if (next.kind === "train" && (next.otherCpuShare ?? 0) < busy) best = next;
  }
  return best;
}
