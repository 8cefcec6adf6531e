import type { Rng } from "../src/rng.ts";

/** One kernel call's shape: `rows` samples of `n` features, `h` hidden units, X read from `xOff`. */
export interface KernelShape {
  rows: number;
  n: number;
  h: number;
  xOff: number;
}

/** Inclusive upper bounds for drawn shapes (rows, n and h start at 1, xOff at 0). */
export interface ShapeBounds {
  rows: number;
  n: number;
  h: number;
  xOff: number;
}

/** `count` shapes drawn uniformly within `bounds`, after the hand-picked `fixed` ones. */
export function kernelShapes(
  fixed: KernelShape[],
  rng: Rng,
  count: number,
  bounds: ShapeBounds,
): KernelShape[] {
  const draw = (lo: number, hi: number) => lo + rng.below(hi - lo + 1);
  const drawn = Array.from({ length: count }, () => ({
    rows: draw(1, bounds.rows),
    n: draw(1, bounds.n),
    h: draw(1, bounds.h),
    xOff: draw(0, bounds.xOff),
  }));
  return [...fixed, ...drawn];
}

/** How a shape is named in test messages. */
export const shapeLabel = (s: KernelShape) => `rows=${s.rows} n=${s.n} h=${s.h} xOff=${s.xOff}`;
