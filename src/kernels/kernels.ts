import type { Floats } from "../dtype.ts";

/**
 * The numerical operations of the seed's network on one chunk of `rows` samples.
 *
 * Samples are rows: `x` holds `rows × n` values starting at element `xOff`, sample-major.
 * Parameters keep the seed's shapes: W1 is `h × n` row-major, b1 and W2 have `h` values, b2 is one.
 * Activations are `rows × h` row-major. Every kernel overwrites its outputs unless its comment
 * says it accumulates (`+=`). Kernels allocate nothing; all arrays are passed in.
 *
 * A backend may require its arrays to be views on its own memory (the WebAssembly backend does);
 * the `js` backend accepts any typed arrays and is the reference the others are tested against.
 */
export interface Kernels {
  /** A1[r,j] = max(0, b1[j] + Σ_k X[r,k]·W1[j,k]). Shapes: X rows×n, W1 h×n, b1 h, A1 rows×h. Overwrites A1. */
  hiddenForward(
    x: Floats,
    xOff: number,
    rows: number,
    n: number,
    h: number,
    w1: Floats,
    b1: Floats,
    a1: Floats,
  ): void;

  /** Z[r] = b2 + Σ_j A1[r,j]·W2[j], the output logit. Shapes: A1 rows×h, W2 h, Z rows. Overwrites Z. */
  outputLogits(a1: Floats, rows: number, h: number, w2: Floats, b2: number, z: Floats): void;

  /**
   * Loss and error of the output layer; the logit Z[r] becomes dZ2[r] = σ(Z[r]) − Y[r], in place.
   * stats[0] += Σ_r max(z,0) − z·y + log(1 + e^−|z|) (binary cross-entropy from the logit, never log(0));
   * stats[1] += #{r : (σ(Z[r]) ≥ 0.5) = (Y[r] = 1)}.
   * Shapes: Z rows, Y rows from `yOff`, stats 2 (float64). Overwrites Z, accumulates into stats.
   */
  outputLoss(z: Floats, y: Floats, yOff: number, rows: number, stats: Float64Array): void;

  /**
   * Layer-2 gradient sums and the layer-1 error, for one chunk.
   * gW2[j] = Σ_r dZ2[r]·A1[r,j]; gb2[0] = Σ_r dZ2[r];
   * then A1 becomes dZ1 in place: dZ1[r,j] = dZ2[r]·W2[j] where A1[r,j] > 0, else 0 (ReLU′(0) = 0);
   * gb1[j] = Σ_r dZ1[r,j].
   * Shapes: A1 rows×h, dZ2 rows, W2 h, gW2 h, gb1 h, gb2 1. Overwrites gW2, gb1, gb2 and A1.
   */
  outputBackward(
    a1: Floats,
    dz2: Floats,
    rows: number,
    h: number,
    w2: Floats,
    gw2: Floats,
    gb1: Floats,
    gb2: Floats,
  ): void;

  /** gW1[j,k] = Σ_r dZ1[r,j]·X[r,k]. Shapes: dZ1 rows×h, X rows×n from `xOff`, gW1 h×n. Overwrites gW1. */
  weightGradient(
    dz1: Floats,
    x: Floats,
    xOff: number,
    rows: number,
    n: number,
    h: number,
    gw1: Floats,
  ): void;

  /**
   * a[aOff + i] += b[bOff + i] for i in [0, len), each sum rounded once in the array's precision:
   * one edge of the reduction tree that adds chunk partials (see core/reduce_tree.ts). The two
   * ranges must not overlap. Accumulates into `a`.
   */
  accumulate(a: Floats, aOff: number, b: Floats, bOff: number, len: number): void;

  /**
   * The reduction tree over `count` partial slots `stride` elements apart, for elements
   * [p0, p1) of each: at level s = 1, 2, 4, …, slot c += slot c + s for every multiple c of 2s
   * with c + s < count. Slot 0 then holds the sum. (Each element's sum is its own, so a backend
   * may walk the elements in any order, e.g. in strips that stay in cache.) Overwrites slots' elements in [p0, p1); other slots' ranges hold
   * intermediate sums afterwards.
   */
  reduceTree(partials: Floats, stride: number, count: number, p0: number, p1: number): void;
}

/**
 * Kernels that also lend the second half of hiddenForward, bias and ReLU, to a backend whose
 * matrix product has neither (blas borrows it from the wasm kernels, or from the reference).
 */
export interface KernelsWithBiasRelu extends Kernels {
  /**
   * A1[r,j] = max(0, A1[r,j] + b1[j]), as `z > 0 ? z : 0` (so NaN and −0 become +0).
   * Shapes: A1 rows×h, b1 h. Overwrites A1 in place.
   */
  biasRelu(a1: Floats, rows: number, h: number, b1: Floats): void;
}
