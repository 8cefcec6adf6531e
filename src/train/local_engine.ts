import type { Batch } from "./gradient_shard.ts";
import { GradientShard } from "./gradient_shard.ts";
import type { StepEngine } from "./step_engine.ts";
import { Phase } from "./workspace.ts";

/**
 * `--workers 0`: the calling thread computes every chunk, then reduces the whole parameter vector,
 * exactly the work a group of workers would share.
 */
export class LocalEngine implements StepEngine {
  readonly workers = 0;
  readonly #shard: GradientShard;
  readonly #size: number;

  readonly #times: Float64Array;

  constructor(shard: GradientShard, paramCount: number, phaseTimes: Float64Array) {
    this.#shard = shard;
    this.#size = paramCount;
    this.#times = phaseTimes;
  }

  step(batch: Batch): void {
    const t0 = performance.now();
    this.#shard.computeChunks(batch, 0, this.#shard.chunks(batch));
    const t1 = performance.now();
    this.#shard.reduceSlice(batch, { begin: 0, end: this.#size });
    this.#times[Phase.COMPUTE] += t1 - t0;
    this.#times[Phase.REDUCE] += performance.now() - t1;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
