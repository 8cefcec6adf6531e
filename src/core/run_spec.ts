import type { Dtype } from "../dtype.ts";
import type { BackendName } from "../kernels/select.ts";
import type { WasmVariant } from "../kernels/wasm.ts";

/**
 * What decides a run's arithmetic, as plain data that can cross to another thread, process or
 * machine: whoever computes part of a step from the same spec, parameters and rows produces the
 * same bits.
 */
export interface RunSpec {
  readonly dtype: Dtype;
  readonly features: number;
  readonly hidden: number;
  /** Training rows. */
  readonly samples: number;
  /** Rows per step; less than `samples` means shuffled mini-batches. */
  readonly batchSize: number;
  /** Rows per chunk: how every batch is cut, whoever computes it. */
  readonly chunkRows: number;
  readonly backend: BackendName;
  /** The wasm build of the wasm and blas backends; null for js. */
  readonly kernelVariant: WasmVariant | null;
  /** `datasetFingerprint` of the training rows as stored for the run (standardized, in dtype). */
  readonly dataFingerprint: string;
}
