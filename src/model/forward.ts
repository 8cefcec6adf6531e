import type { Floats } from "../dtype.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { ParamViews } from "./params.ts";

/** Scratch for a forward pass of up to `a1.length / h` rows at a time. */
export interface ForwardScratch {
  /** rows × h */
  readonly a1: Floats;
  /** rows */
  readonly z: Floats;
}

/**
 * The forward pass over `rows` samples of `x` (row-major, n features) chunk by chunk:
 * accumulates the summed loss and correct count into `stats` when labels `y` are given, and
 * writes σ(z) per row into `probabilities` when given.
 */
export function forwardRows(
  k: Kernels,
  x: Floats,
  y: Floats | null,
  rows: number,
  params: ParamViews,
  n: number,
  h: number,
  scratch: ForwardScratch,
  stats: Float64Array,
  probabilities?: Float64Array,
): void {
  const chunkRows = Math.floor(scratch.z.length);
  const b2 = params.b2[0];
  for (let first = 0; first < rows; first += chunkRows) {
    const count = Math.min(chunkRows, rows - first);
    k.hiddenForward(x, first * n, count, n, h, params.w1, params.b1, scratch.a1);
    k.outputLogits(scratch.a1, count, h, params.w2, b2, scratch.z);
    if (probabilities) {
      for (let r = 0; r < count; r++) probabilities[first + r] = 1 / (1 + Math.exp(-scratch.z[r]));
    }
    if (y) k.outputLoss(scratch.z, y, first, count, stats);
  }
}
