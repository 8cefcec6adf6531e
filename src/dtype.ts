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
