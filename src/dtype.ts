/** Arithmetic and storage precision of a training run. */
export type Dtype = "f32" | "f64";

/** A flat array of floats in either precision. */
export type Floats = Float32Array | Float64Array;

/** The typed-array constructor that stores `dtype`. */
export function floatArrayType(dtype: Dtype): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === "f32" ? Float32Array : Float64Array;
}
