import type { Kernels } from "../kernels/kernels.ts";
import { chunkCount, type Range } from "./shards.ts";
import type { ScratchViews, WorkspaceViews } from "./workspace.ts";

/** One step's batch: rows [begin, end) of the epoch's order. */
export interface Batch extends Range {
  /** True when the epoch's order is a shuffle, so rows must be gathered through `order`. */
  readonly shuffled: boolean;
}

/**
 * What one computing thread does in a step, the same code whether it runs in the main thread
 * (`--workers 0`) or in a worker: compute the partial gradients of some chunks of the batch, then
 * reduce one slice of the parameters over all chunks and apply the descent step to it.
 */
export class GradientShard {
  readonly #k: Kernels;
  readonly #ws: WorkspaceViews;
  readonly #scratch: ScratchViews;
  readonly #lr: number;

  constructor(kernels: Kernels, workspace: WorkspaceViews, slot: number, learningRate: number) {
    this.#k = kernels;
    this.#ws = workspace;
    this.#scratch = workspace.scratch[slot];
    this.#lr = learningRate;
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

  /** params[p] −= lr · (Σ_c partial_c[p]) / m for p in `slice`, m being the batch's row count. */
  reduceSlice(batch: Batch, slice: Range): void {
    if (slice.end <= slice.begin) return;
    this.#k.reduceStep(
      this.#ws.partials,
      this.chunks(batch),
      this.#ws.layout.partialStride,
      slice.begin,
      slice.end,
      this.#ws.params.all,
      this.#lr,
      batch.end - batch.begin,
      this.#scratch.sum,
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
