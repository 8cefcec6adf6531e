import type { StepInput, StepOutput } from "./step_engine.ts";
import type { WorkspaceViews } from "./workspace.ts";

/**
 * How an engine on a shared workspace takes a step's inputs in and hands its outputs back: the
 * epoch's row order is copied into the workspace once per epoch, and the chunk statistics the
 * workers wrote are handed back as they lie.
 */
export class StepIo {
  readonly #ws: WorkspaceViews;
  #orderEpoch = Number.NaN;

  constructor(workspace: WorkspaceViews) {
    this.#ws = workspace;
  }

  /** Puts a new epoch's order where the workers gather rows from. */
  stage(input: StepInput): void {
    if (input.order === null || input.epoch === this.#orderEpoch) return;
    this.#ws.order.set(input.order);
    this.#orderEpoch = input.epoch;
  }

  /** The statistics of the step's `chunks` chunks, as the workers wrote them. */
  output(chunks: number): StepOutput {
    return { chunks, chunkStats: this.#ws.chunkStats };
  }

  /** The phase timers of `threads` computing threads (at least one row), as `phaseMs` returns them. */
  phaseMs(threads: number): number[][] {
    const times = this.#ws.phaseTimes;
    return Array.from(
      { length: Math.max(1, threads) },
      (_, t) => Array.from(times.subarray(3 * t, 3 * t + 3)),
    );
  }
}
