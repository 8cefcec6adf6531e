import { SweepThread } from "./sweep_thread.ts";

/**
 * Worker threads kept from one sweep to the next. A sweep given a count starts its threads and
 * ends them when it ends, so each of its threads loads the modules and compiles the hot code anew
 * (on small data a few percent of a thread's work, and background compiler threads competing for
 * the cores); sweeps given the same `SweepThreads` train on threads that are already warm, as a
 * sweep without threads is on the calling thread from its second sweep on. Threads start at the
 * first sweep that needs them; one that failed, or that a stopped sweep ended, is replaced at the
 * next. `close` ends them: until then they keep the process alive.
 *
 * @example
 * ```ts
 * const threads = new SweepThreads(2);
 * try {
 *   const coarse = await sweep(data, { base, axes: { learningRate: [0.01, 0.1, 1] }, evaluation, threads });
 *   const fine = await sweep(data, { base, axes: { learningRate: [0.05, 0.1, 0.2] }, evaluation, threads });
 * } finally {
 *   threads.close();
 * }
 * ```
 */
export class SweepThreads {
  /** How many threads a sweep trains on. */
  readonly count: number;
  #threads: SweepThread[] = [];
  #inUse = false;
  #closed = false;

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`sweep threads: expected a whole number ≥ 1, got ${count}`);
    }
    this.count = count;
  }

  /**
   * The first `count` threads for one sweep, each started where missing or unusable, hearing
   * that sweep's notes; `release` gives them back. One sweep at a time.
   */
  acquire(count: number, onNote: (note: string) => void): SweepThread[] {
    if (this.#closed) throw new Error("these sweep threads are closed");
    if (this.#inUse) throw new Error("these sweep threads are training another sweep");
    this.#inUse = true;
    return Array.from({ length: Math.min(count, this.count) }, (_, index) => {
      let thread = this.#threads[index];
      if (thread === undefined || !thread.usable) {
        thread = new SweepThread(index, onNote);
        this.#threads[index] = thread;
      }
      thread.onNote = onNote;
      return thread;
    });
  }

  /** Ends the sweep's use of the threads; `keep` false ends the threads too (a stopped sweep). */
  release(keep: boolean): void {
    this.#inUse = false;
    if (!keep || this.#closed) this.#terminate();
  }

  /** Ends every thread; a sweep in progress then fails its runs in flight. */
  close(): void {
    this.#closed = true;
    this.#terminate();
  }

  #terminate(): void {
    for (const thread of this.#threads) thread.terminate();
    this.#threads = [];
  }
}
