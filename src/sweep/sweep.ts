import type { Dataset } from "../data/dataset.ts";
import { evaluationSplits, type Split, type SweepEvaluation } from "./folds.ts";
import { expandGrid, type SweepAxes, type SweepConfig } from "./grid.ts";
import { runKernels, type RunOptions, type RunOutcome, runSplit } from "./sweep_run.ts";
import { SweepThreads } from "./sweep_threads.ts";
import { WorkspacePool } from "../core/workspace_pool.ts";
import { DEFAULT_HIDDEN } from "../train/train.ts";

/** Without threads, the longest a sweep keeps the event loop waiting: a signal waits as long. */
const YIELD_MS = 100;
/** After a signal, how long the threads' runs in flight may take to end before they are cut. */
const STOP_GRACE_MS = 2_000;

/** A grid of trainings and how to evaluate each. */
export interface SweepOptions {
  /** Options every run shares; an axis's value replaces the base's. */
  readonly base: RunOptions;
  readonly axes: SweepAxes;
  readonly evaluation: SweepEvaluation;
  /**
   * Worker threads training whole runs side by side (default 0: one run after another in the
   * calling thread): a count, started for this sweep and ended with it, or `SweepThreads` kept
   * from sweep to sweep. Each run computes in one thread, so its result does not depend on this.
   */
  readonly threads?: number | SweepThreads;
  /** Stops the sweep: running runs are dropped, and the sweep resolves with the finished ones. */
  readonly signal?: AbortSignal;
  /** Called as each run finishes, in the order they finish. */
  readonly onRun?: (run: SweepRun) => void;
  /** Called as each configuration's last run finishes. */
  readonly onConfig?: (summary: ConfigSummary) => void;
  /** Called once with each distinct note from the runs (a backend fallback). */
  readonly onNote?: (note: string) => void;
}

/** One finished run: a configuration trained on one split. */
export interface SweepRun extends RunOutcome {
  /** Index of the configuration in grid order. */
  readonly config: number;
  /** Index of the split (the fold held out). */
  readonly split: number;
}

/** A configuration's runs, summarized over the splits. */
export interface ConfigSummary {
  /** Index in grid order. */
  readonly index: number;
  readonly config: SweepConfig;
  /** Runs finished, of `splits`. */
  readonly runs: number;
  readonly splits: number;
  /** Mean validation loss over the finished runs; NaN if one diverged. */
  readonly valLoss: number;
  /** Sample standard deviation of the validation loss over the runs (0 for one run). */
  readonly valLossSpread: number;
  readonly valAccuracy: number;
  /** Mean of the runs' ROC AUCs. */
  readonly valAuc: number;
  /** Training time of the runs together. */
  readonly ms: number;
  /** Why the first diverging run diverged. */
  readonly diverged?: string;
}

/** What a sweep found. */
export interface SweepResult {
  /**
   * Configurations with at least one finished run, best first: complete ones by mean validation
   * loss, then diverged ones, then those a stop left incomplete (each group in grid order when
   * tied).
   */
  readonly ranked: readonly ConfigSummary[];
  /** The best complete configuration that did not diverge; null if none. */
  readonly best: ConfigSummary | null;
  /** Finished runs, in the order they finished. */
  readonly runs: readonly SweepRun[];
  /** Every configuration of the grid, in grid order. */
  readonly configs: readonly SweepConfig[];
  readonly splits: readonly Split[];
  /** False when `signal` stopped the sweep. */
  readonly complete: boolean;
  /** Wall time. */
  readonly ms: number;
}

/**
 * Trains every configuration of the grid on every split of the evaluation and ranks the
 * configurations by mean validation loss. Each run is bit-identical to `train` with the same
 * options on the split's training rows, whatever the thread count.
 *
 * @example
 * ```ts
 * const result = await sweep(data, {
 *   base: { epochs: 300 },
 *   axes: { learningRate: [0.1, 0.5], hidden: [8, 16] },
 *   evaluation: { folds: 5, seed: 1 },
 *   threads: 2,
 * });
 * console.log(result.best?.config, result.best?.valLoss);
 * ```
 */
export async function sweep(data: Dataset, options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const configs = expandGrid(options.axes);
  const splits = evaluationSplits(data.y, options.evaluation);
  const jobs = configs.flatMap((_, config) => splits.map((_, split) => ({ config, split })));
  const runs: SweepRun[] = [];
  const finished = new Map<number, SweepRun[]>();
  const record = (run: SweepRun) => {
    runs.push(run);
    options.onRun?.(run);
    const done = finished.get(run.config) ?? [];
    done.push(run);
    finished.set(run.config, done);
    if (done.length === splits.length) {
      options.onConfig?.(summarize(run.config, configs[run.config], done, splits.length));
    }
  };
  const notes = new Set<string>();
  const onNote = (note: string) => {
    if (notes.has(note)) return;
    notes.add(note);
    options.onNote?.(note);
  };
  const signal = options.signal;
  let next = 0;
  const kept = options.threads instanceof SweepThreads ? options.threads : null;
  const count = kept?.count ?? (typeof options.threads === "number" ? options.threads : 0);
  const threads = Math.min(count, jobs.length);
  if (threads === 0) {
    const workspacePool = new WorkspacePool();
    let yielded = performance.now();
    while (next < jobs.length && !signal?.aborted) {
      const { config, split } = jobs[next++];
      const outcome = await runSplit(data, splits[split], { ...options.base, ...configs[config] }, {
        onNote,
        workspacePool,
      });
      record({ ...outcome, config, split });
      // A signal's handler runs only between tasks, and a run in this thread never yields; but
      // a zero-delay timer idles for milliseconds (Deno clamps repeated ones to 4 ms), a fifth of
      // a small data set's run, so the loop yields once every YIELD_MS rather than per run.
      if (performance.now() - yielded >= YIELD_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        yielded = performance.now();
      }
    }
  } else {
    // Longest first, so that the threads finish together: the last runs are the shortest.
    const work = jobs.map(({ config, split }) =>
      roughWork({ ...options.base, ...configs[config] }, splits[split].train.length)
    );
    const order = jobs.map((_, j) => j).sort((a, b) => work[b] - work[a] || a - b);
    const queue = order.map((j) => jobs[j]);
    const wasm = await runKernels(options.base);
    const pool = kept ?? new SweepThreads(threads);
    const live = pool.acquire(threads, onNote);
    // On a signal no run is started, and the threads' runs in flight end at their epoch's end
    // (the shared word `stopped`) before the threads are terminated: a thread terminated inside a
    // kernel call (OpenBLAS through FFI) went on writing into memory that the exiting process had
    // freed, and the process died of a segmentation fault instead of exiting 130. A thread not
    // done within the grace is terminated anyway.
    const stopped = new Int32Array(new SharedArrayBuffer(4));
    let grace: ReturnType<typeof setTimeout> | undefined;
    const stopSoon = () => {
      Atomics.store(stopped, 0, 1);
      grace = setTimeout(() => live.forEach((t) => t.terminate()), STOP_GRACE_MS);
    };
    signal?.addEventListener("abort", stopSoon);
    let whole = false;
    try {
      if (!signal?.aborted) {
        await Promise.all(live.map(async (thread) => {
          await thread.init(data, splits, options.base, wasm, stopped);
          // Two runs in flight: the thread starts the second as it finishes the first, without
          // waiting for this thread to hear of it and send the next. Once stopped, a lane ends
          // when its run does, whatever its end: every thread is idle before any is terminated.
          const lane = async () => {
            while (next < queue.length && !signal?.aborted) {
              const { config, split } = queue[next++];
              let outcome: RunOutcome;
              try {
                outcome = await thread.run(configs[config], split);
              } catch (e) {
                if (signal?.aborted) return;
                throw e;
              }
              record({ ...outcome, config, split });
            }
          };
          await Promise.all([lane(), lane()]);
        })).catch((e) => {
          if (!signal?.aborted) throw e;
        });
        whole = !signal?.aborted;
      }
    } finally {
      clearTimeout(grace);
      signal?.removeEventListener("abort", stopSoon);
      // Kept threads stay for the next sweep only when this one ended whole: a stopped or
      // failed sweep may have left runs in them.
      pool.release(kept !== null && whole);
    }
  }
  const summaries = [...finished].map(([index, done]) =>
    summarize(index, configs[index], done, splits.length)
  );
  const ranked = summaries.sort(compareSummaries);
  const best = ranked.find((s) => s.runs === s.splits && s.diverged === undefined) ?? null;
  return {
    ranked,
    best,
    runs,
    configs,
    splits,
    complete: !signal?.aborted,
    ms: performance.now() - started,
  };
}

/**
 * A run's work, roughly (epochs × rows × hidden units), to order runs by; the results do not
 * depend on the order.
 */
function roughWork(options: RunOptions, rows: number): number {
  return options.epochs * rows * (options.init?.hidden ?? options.hidden ?? DEFAULT_HIDDEN);
}

/** Sums in split order, so that the means do not depend on the order runs finished in. */
function summarize(
  index: number,
  config: SweepConfig,
  runs: readonly SweepRun[],
  splits: number,
): ConfigSummary {
  runs = [...runs].sort((a, b) => a.split - b.split);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const losses = runs.map((r) => r.valLoss);
  const valLoss = mean(losses);
  const spread = losses.length > 1
    ? Math.sqrt(losses.reduce((a, l) => a + (l - valLoss) ** 2, 0) / (losses.length - 1))
    : 0;
  const diverged = runs.find((r) => r.diverged !== undefined)?.diverged;
  return {
    index,
    config,
    runs: runs.length,
    splits,
    valLoss,
    valLossSpread: spread,
    valAccuracy: mean(runs.map((r) => r.valAccuracy)),
    valAuc: mean(runs.map((r) => r.valAuc)),
    ms: runs.reduce((a, r) => a + r.ms, 0),
    ...(diverged !== undefined ? { diverged } : {}),
  };
}

function compareSummaries(a: ConfigSummary, b: ConfigSummary): number {
  const group = (s: ConfigSummary) => s.runs < s.splits ? 2 : s.diverged !== undefined ? 1 : 0;
  return group(a) - group(b) || (group(a) === 0 ? (a.valLoss - b.valLoss) || 0 : 0) ||
    a.index - b.index;
}
