import { Fnv1a64 } from "../hash.ts";
import type { Dataset } from "./dataset.ts";

/**
 * A 64-bit FNV-1a hash (16 hex digits) of a data set's shape, features and labels, in one pass
 * over their float64 bytes: two runs agree on it exactly when they train on the same rows in the
 * same order, whatever file or generator the rows came from.
 *
 * @example
 * ```ts
 * datasetFingerprint(generate("xor", 100, 2, 1)) === datasetFingerprint(generate("xor", 100, 2, 1)); // true
 * ```
 */
export function datasetFingerprint(data: Dataset): string {
  return new Fnv1a64()
    .update(new Uint8Array(Float64Array.of(data.samples, data.features).buffer))
    .update(new Uint8Array(data.x.buffer, data.x.byteOffset, data.x.byteLength))
    .update(new Uint8Array(data.y.buffer, data.y.byteOffset, data.y.byteLength))
    .hex();
}
