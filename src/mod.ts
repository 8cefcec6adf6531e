/**
 * shardnet: a data-parallel trainer for a one-hidden-layer binary classifier, on Deno and Bun.
 *
 * Data flow: a data set → shards of each batch → worker threads computing partial gradients →
 * a reduction in fixed chunk order → one synchronized step of the optimizer (plain gradient
 * descent by default; torch.optim's sgd with momentum, adam, adamw).
 *
 * @example
 * ```ts
 * import { evaluate, generate, train, writeModelFile } from "./src/mod.ts";
 * const data = generate("xor", 4096, 4, 1);
 * const { model } = await train(data, { epochs: 200, hidden: 16, workers: 2 });
 * console.log(evaluate(model, data).accuracy);
 * writeModelFile("model.json", model);
 * ```
 */
export type { Dataset, LabelColumn } from "./data/dataset.ts";
export { parseCsv, readCsv } from "./data/csv.ts";
export { generate, GENERATOR_KINDS, type GeneratorKind } from "./data/generators.ts";
export {
  type DataSource,
  GENERATOR_DEFAULTS,
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
export {
  datasetColumns,
  initModel,
  type Model,
  type ModelColumns,
  modelViews,
} from "./model/model.ts";
export { modelFromJson, modelToJson, readModelFile, writeModelFile } from "./model/model_file.ts";
export { evaluate, type Evaluation, predict, type Rows } from "./model/predict.ts";
export {
  type BestEpoch,
  type EarlyStoppingOptions,
  type EpochReport,
  train,
  type TrainOptions,
  type TrainResult,
  type TrainState,
} from "./train/train.ts";
export { OPTIMIZER_KINDS, type OptimizerKind, type OptimizerOptions } from "./core/optimizer.ts";
export {
  LR_SCHEDULE_KINDS,
  type LrScheduleKind,
  type LrScheduleOptions,
} from "./train/lr_schedule.ts";
export {
  type ClassificationMetrics,
  classificationMetrics,
  type ConfusionMatrix,
} from "./model/metrics.ts";
export {
  type ConfigSummary,
  sweep,
  type SweepOptions,
  type SweepResult,
  type SweepRun,
} from "./sweep/sweep.ts";
export { SweepThreads } from "./sweep/sweep_threads.ts";
export {
  type AxisKey,
  expandGrid,
  gridSize,
  type SweepAxes,
  type SweepConfig,
} from "./sweep/grid.ts";
export {
  evaluationSplits,
  smallerClass,
  type Split,
  stratifiedFolds,
  type SweepEvaluation,
} from "./sweep/folds.ts";
export { paramsHash, type RunOptions, type RunOutcome, runSplit } from "./sweep/sweep_run.ts";
export { rocAuc } from "./sweep/roc_auc.ts";
export { type ClusterOptions } from "./engines/cluster/cluster_engine.ts";
export { ClusterWorker, type ClusterWorkerOptions } from "./engines/cluster/cluster_worker.ts";
export { type LocalCluster, startLocalCluster } from "./engines/cluster/local_cluster.ts";
export { trainingCurvesSpec, trainingCurvesSvg } from "./train/training_curves.ts";
export { autoWorkers, type StepShape, type WorkersChoice } from "./engines/auto_workers.ts";
