/**
 * shardnet: a data-parallel trainer for a one-hidden-layer binary classifier, on Deno and Bun.
 *
 * Data flow: a data set → shards of each batch → worker threads computing partial gradients →
 * a reduction in fixed chunk order → one synchronized gradient-descent step.
 *
 * @example
 * ```ts
 * import { evaluate, generate, train, writeModelFile } from "./src/mod.ts";
 * const data = generate("xor", 4096, 4, 1);
 * const { model } = await train(data, { epochs: 200, hidden: 16, workers: 2 });
 * console.log(evaluate(model, data).accuracy);
 * writeModelFile("model.json", model, "--out");
 * ```
 */
export type { Dataset } from "./data/dataset.ts";
export { parseCsv, readCsv } from "./data/csv.ts";
export { generate, GENERATOR_KINDS, type GeneratorKind } from "./data/generators.ts";
export {
  type DataSource,
  GENERATOR_PREFIX,
  loadDataset,
  resolveDataSource,
  type ResolvedSource,
} from "./data/load.ts";
export { splitValidation } from "./data/split.ts";
export {
  applyStandardization,
  fitStandardization,
  type Standardization,
} from "./data/standardize.ts";
export type { Dtype } from "./dtype.ts";
export { DataError, UsageError, WorkerError } from "./errors.ts";
export { kernelIdentity } from "./kernels/kernel_identity.ts";
export {
  BACKEND_CHOICES,
  type BackendChoice,
  KERNEL_VARIANT_CHOICES,
  type KernelVariantChoice,
} from "./kernels/select.ts";
export type { WasmVariant } from "./kernels/wasm.ts";
export { initModel, type Model, modelViews } from "./model/model.ts";
export { modelFromJson, modelToJson, readModelFile, writeModelFile } from "./model/model_file.ts";
export { evaluate, type Evaluation, predict, type Rows } from "./model/predict.ts";
export { type EpochReport, train, type TrainOptions, type TrainResult } from "./train/train.ts";
export { autoWorkers, type StepShape, type WorkersChoice } from "./engines/auto_workers.ts";
