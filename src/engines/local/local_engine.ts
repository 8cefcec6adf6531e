import { StepShare } from "../../core/step_share.ts";
import type { StepEngine, StepInput, StepOutput } from "../../core/step_engine.ts";
import { StepIo } from "../../core/step_io.ts";
import { Phase, type WorkspaceViews } from "../../core/workspace.ts";
import type { Kernels } from "../../kernels/kernels.ts";

/**
 * `--workers 0`: the calling thread computes every chunk, then reduces and updates the whole
 * parameter vector, exactly the work a group of workers would share.
 */
export class LocalEngine implements StepEngine {
  readonly kind = "local";
  readonly workers = 0;
  readonly #share: StepShare;
  readonly #io: StepIo;
  readonly #all: { begin: number; end: number };
  readonly #times: Float64Array;

  constructor(kernels: Kernels, workspace: WorkspaceViews) {
    this.#share = new StepShare(kernels, workspace, 0);
    this.#io = new StepIo(workspace);
    this.#all = { begin: 0, end: workspace.layout.paramCount };
    this.#times = workspace.phaseTimes;
  }

  step(input: StepInput): StepOutput {
    const { batch, learningRate, step } = input;
    this.#io.stage(input);
    const chunks = this.#share.chunks(batch);
    const t0 = performance.now();
    this.#share.computeChunks(batch, 0, chunks);
    const t1 = performance.now();
    this.#share.reduceSlice(chunks, this.#all);
    if (learningRate !== null) {
      this.#share.updateSlice(this.#all, learningRate, batch.end - batch.begin, step);
    }
    this.#times[Phase.COMPUTE] += t1 - t0;
    this.#times[Phase.REDUCE] += performance.now() - t1;
    return this.#io.output(chunks);
  }

  phaseMs(): number[][] {
    return this.#io.phaseMs(0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
