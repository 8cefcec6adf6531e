import type { Kernels } from "../kernels/kernels.ts";
import { optimizerStep } from "./optimizer.ts";
import { reduceTree } from "./reduce_tree.ts";
import { type Batch, chunkCount, type Range } from "./shards.ts";
import type { ScratchViews, WorkspaceViews } from "./workspace.ts";

/**
 * One computing thread's share of a step, the same code in the main thread (`--workers 0`) and in
 * a worker: compute the partial gradients of some chunks of the batch; then, for some slices of
 * the parameters, sum the partials of all chunks through the reduction tree and update them.
 */
export class StepShare {
  readonly #k: Kernels;
  readonly #ws: WorkspaceViews;
  readonly #scratch: ScratchViews;

  /** `slot`: this thread's scratch area in the workspace. */
  constructor(kernels: Kernels, workspace: WorkspaceViews, slot: number) {
    this.#k = kernels;
    this.#ws = workspace;
    this.#scratch = workspace.scratch[slot];
  }

  /** Chunks of the batch; chunk c's partial sums go to partial slot c and chunk stats 2c, 2c+1. */
  chunks(batch: Batch): number {
    return chunkCount(batch.end - batch.begin, this.#ws.layout.chunkRows);
  }

  /**
   * Overwrites the partial-gradient slots and loss statistics of chunks [c0, c1) of `batch`:
   * Σ dZ2·A1ᵀ, Σ dZ2, Σ dZ1·Xᵀ, Σ dZ1 over each chunk's rows, unscaled.
   */
  computeChunks(batch: Batch, c0: number, c1: number): void {
    const k = this.#k;
    const ws = this.#ws;
    const { features: n, hidden: h } = ws.layout.shape;
    const { a1, z } = this.#scratch;
    const p = ws.params;
    const b2 = p.b2[0];
    const chunkRows = ws.layout.chunkRows;
    for (let c = c0; c < c1; c++) {
      const first = batch.begin + c * chunkRows;
      const rows = Math.min(chunkRows, batch.end - first);
      let x = ws.x;
      let y = ws.y;
      let row = first;
      if (batch.shuffled) {
        this.#gather(first, rows);
        x = this.#scratch.gx;
        y = this.#scratch.gy;
        row = 0;
      }
      const g = ws.partialSlots[c];
      const stats = ws.chunkStatSlots[c];
      stats.fill(0);
      k.hiddenForward(x, row * n, rows, n, h, p.w1, p.b1, a1);
      k.outputLogits(a1, rows, h, p.w2, b2, z);
      k.outputLoss(z, y, row, rows, stats);
      k.outputBackward(a1, z, rows, h, p.w2, g.w2, g.b1, g.b2);
      k.weightGradient(a1, x, row * n, rows, n, h, g.w1);
    }
  }

  /** Sums the partials of the batch's `chunks` chunks for `slice` into partial slot 0. */
  reduceSlice(chunks: number, slice: Range): void {
    const ws = this.#ws;
    reduceTree(this.#k, ws.partials, ws.layout.partialStride, chunks, slice.begin, slice.end);
  }

  /**
   * The optimizer's update of `slice` (see `optimizerStep`) from the batch's gradient sum in
   * partial slot 0, over m rows, at rate `learningRate` and step count `t` (from 1).
   */
  updateSlice(slice: Range, learningRate: number, m: number, t: number): void {
    const ws = this.#ws;
    optimizerStep(
      ws.layout.optimizer,
      ws.params.all,
      ws.partials,
      ws.optimizerState,
      slice.begin,
      slice.end,
      m,
      learningRate,
      t,
    );
  }

  /** Copies the chunk's rows, listed by the epoch's order, into this thread's contiguous scratch. */
  #gather(first: number, rows: number): void {
    const { x, y, order } = this.#ws;
    const { gx, gy } = this.#scratch;
    const n = this.#ws.layout.shape.features;
    for (let r = 0; r < rows; r++) {
      const i = order[first + r];
      for (let k = 0; k < n; k++) gx[r * n + k] = x[i * n + k];
      gy[r] = y[i];
    }
  }
}
