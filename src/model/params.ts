import type { Floats } from "../dtype.ts";

/** The parameters of the network, as typed views on one flat buffer laid out W1 | b1 | W2 | b2. */
export interface ParamViews<F extends Floats = Floats> {
  /** The whole buffer: what is reduced and updated as one vector. */
  readonly all: F;
  /** h × n, row-major: row j holds hidden unit j's input weights. */
  readonly w1: F;
  readonly b1: F;
  readonly w2: F;
  /** One value. */
  readonly b2: F;
}

/**
 * Number of parameters of a network with `n` inputs and `h` hidden units: h·n + h + h + 1.
 *
 * @example
 * ```ts
 * paramCount(30, 8); // 257
 * ```
 */
export function paramCount(n: number, h: number): number {
  return h * n + 2 * h + 1;
}

/**
 * Typed views W1 | b1 | W2 | b2 over `paramCount(n, h)` elements of `buffer` starting at `offset`.
 *
 * @example
 * ```ts
 * const p = paramViews(new Float64Array(paramCount(3, 2)), 3, 2);
 * p.b2[0] = 0.5;
 * ```
 */
export function paramViews<F extends Floats>(
  buffer: F,
  n: number,
  h: number,
  offset = 0,
): ParamViews<F> {
  const size = paramCount(n, h);
  if (offset + size > buffer.length) {
    throw new RangeError(
      `parameter views need ${size} elements at ${offset}, buffer has ${buffer.length}`,
    );
  }
  const at = (start: number, length: number) =>
    buffer.subarray(offset + start, offset + start + length) as F;
  return {
    all: at(0, size),
    w1: at(0, h * n),
    b1: at(h * n, h),
    w2: at(h * n + h, h),
    b2: at(h * n + 2 * h, 1),
  };
}
