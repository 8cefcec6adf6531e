import type { Floats } from "../dtype.ts";

/**
 * Plain gradient descent on parameters [p0, p1): params[p] −= lr · (sum[p] / m), where `sum`
 * holds the batch's unscaled gradient sum. Computed in float64 and rounded once into `params`
 * (the typed-array store rounds float32). Updates `params` in place.
 *
 * @example
 * ```ts
 * descend(params, gradientSum, 0, params.length, 0.5, 569);
 * ```
 */
export function descend(
  params: Floats,
  sum: Floats,
  p0: number,
  p1: number,
  lr: number,
  m: number,
): void {
  for (let p = p0; p < p1; p++) params[p] -= lr * (sum[p] / m);
}
