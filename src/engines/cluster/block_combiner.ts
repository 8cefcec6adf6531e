import type { Floats } from "../../dtype.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import { optimizerStep } from "../../core/optimizer.ts";
import { reduceTree } from "../../core/reduce_tree.ts";
import type { StepOutput } from "../../core/step_engine.ts";
import type { WorkspaceViews } from "../../core/workspace.ts";
import type { Block } from "./assignment.ts";

/**
 * The coordinator's half of a cluster step: it takes the block sums the workers send, each into
 * the partial slot of the block's first chunk, finishes the reduction tree above them and updates
 * the parameters, so that the result has the bits of the same step computed in one thread.
 *
 * @example
 * ```ts
 * const combiner = new BlockCombiner(kernels, workspace);
 * combiner.begin(chunks);
 * combiner.put({ first: 0, span: 4 }, sum, stats);
 * const out = combiner.finish(0.5, rows, 1);
 * ```
 */
export class BlockCombiner {
  readonly #k: Kernels;
  readonly #ws: WorkspaceViews;
  /** Per chunk slot: the span of the block whose sum it holds, 0 inside a block (see reduceTree). */
  readonly #given: Int32Array;
  #chunks = 0;
  #covered = 0;

  constructor(kernels: Kernels, workspace: WorkspaceViews) {
    this.#k = kernels;
    this.#ws = workspace;
    this.#given = new Int32Array(workspace.layout.maxChunks);
  }

  /** Starts a step over a batch of `chunks` chunks. */
  begin(chunks: number): void {
    this.#chunks = chunks;
    this.#covered = 0;
    this.#given.fill(0);
  }

  /** Whether every chunk of the step is covered by a block put so far. */
  get complete(): boolean {
    return this.#covered === this.#chunks;
  }

  /** Takes one block's gradient sum and its chunks' [loss sum, correct count] pairs. */
  put(block: Block, sum: Floats, chunkStats: Float64Array): void {
    const held = Math.min(block.span, this.#chunks - block.first);
    this.#ws.partialSlots[block.first].all.set(sum);
    this.#ws.chunkStats.set(chunkStats.subarray(0, 2 * held), 2 * block.first);
    if (this.#given[block.first] === 0) this.#covered += held;
    this.#given[block.first] = block.span;
  }

  /**
   * Finishes the tree and takes the optimizer's step `t` at `learningRate` over the batch's `rows`
   * rows (none when null: the gradient sum stays in partial slot 0), the update every engine
   * applies, with its state in the coordinator's workspace; returns the step's chunk statistics.
   */
  finish(learningRate: number | null, rows: number, t: number): StepOutput {
    const ws = this.#ws;
    const size = ws.layout.paramCount;
    reduceTree(this.#k, ws.partials, ws.layout.partialStride, this.#chunks, 0, size, this.#given);
    if (learningRate !== null) {
      optimizerStep(
        ws.layout.optimizer,
        ws.params.all,
        ws.partials,
        ws.optimizerState,
        0,
        size,
        rows,
        learningRate,
        t,
      );
    }
    return { chunks: this.#chunks, chunkStats: ws.chunkStats };
  }
}
