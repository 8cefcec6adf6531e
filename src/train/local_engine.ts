import type { Batch } from "./gradient_shard.ts";
import { GradientShard } from "./gradient_shard.ts";
import type { StepEngine } from "./step_engine.ts";

/**
 * `--workers 0`: the calling thread computes every chunk, then reduces the whole parameter vector,
 * exactly the work a group of workers would share.
 */
export class LocalEngine implements StepEngine {
  readonly workers = 0;
  readonly #shard: GradientShard;
  readonly #size: number;

  constructor(shard: GradientShard, paramCount: number) {
    this.#shard = shard;
    this.#size = paramCount;
  }

  step(batch: Batch): void {
    this.#shard.computeChunks(batch, 0, this.#shard.chunks(batch));
    this.#shard.reduceSlice(batch, { begin: 0, end: this.#size });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
