/** Arithmetic and storage precision of a training run. */
export type Dtype = "f32" | "f64";

/** A flat array of floats in either precision. */
export type Floats = Float32Array | Float64Array;

/** A `dtype` view of `length` elements on `buffer` (shared or not) at `byteOffset`. */
export function floatView(
  dtype: Dtype,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): Floats {
  return dtype === "f32"
    ? new Float32Array(buffer, byteOffset, length)
    : new Float64Array(buffer, byteOffset, length);
}

/**
 * Whether every element of `values` is finite: x − x is 0 for a finite x and NaN otherwise. One
 * loop per array type keeps each loop's element access monomorphic, and a test per element, with
 * no sum carried from one to the next, lets the loop run as fast as the elements load (it runs
 * each step over the parameters and every partial sum that arrives).
 *
 * @example
 * ```ts
 * allFinite(new Float32Array([1, Number.NaN])); // false
 * ```
 */
export function allFinite(values: Floats): boolean {
  return values instanceof Float32Array ? allFinite32(values) : allFinite64(values);
}

function allFinite32(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x - x !== 0) return false;
  }
  return true;
}

function allFinite64(values: Float64Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x - x !== 0) return false;
  }
  return true;
}
