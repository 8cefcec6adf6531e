import type { Dataset } from "../data/dataset.ts";
import { applyStandardization, fitStandardization } from "../data/standardize.ts";
import { allFinite, type Dtype, type Floats } from "../dtype.ts";
import { DataError, DivergenceError, option, UsageError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import {
  type BackendChoice,
  type KernelVariantChoice,
  loadKernels,
  resolveBackend,
  resolveKernelVariant,
} from "../kernels/select.ts";
import type { WasmVariant } from "../kernels/wasm.ts";
import { datasetColumns, initModel, type Model } from "../model/model.ts";
import { Rng } from "../rng.ts";
import { forwardRows } from "../model/forward.ts";
import { batchRanges, chunkCount, chunkRowsFor } from "../core/shards.ts";
import type { EngineKind, TransportReport } from "../core/step_engine.ts";
import type { ClusterOptions } from "../engines/cluster/cluster_engine.ts";
import {
  allocateWorkspace,
  type WorkspaceLayout,
  type WorkspaceViews,
  workspaceViews,
} from "../core/workspace.ts";
import type { WorkspaceLease, WorkspacePool } from "../core/workspace_pool.ts";
import { createEngine, type EngineChoice, scratchSlots } from "../engines/factory.ts";
import { planRunMemory } from "../core/memory_plan.ts";
import { optimizerConfig, type OptimizerOptions, stateArrays } from "../core/optimizer.ts";
import { lrSchedule, type LrScheduleOptions, scheduledLearningRate } from "./lr_schedule.ts";
import { type ClassificationMetrics, classificationMetrics } from "../model/metrics.ts";
import { autoWorkers } from "../engines/auto_workers.ts";
import { logicalCpus } from "../runtime/process.ts";

/** Hidden units when neither `hidden` nor `init` says. */
export const DEFAULT_HIDDEN = 32;

/** How to train; every field but `epochs` has a default. */
export interface TrainOptions {
  /** Hidden units (default 32, as the CLI's); ignored when `init` is given. */
  readonly hidden?: number;
  readonly epochs: number;
  /** Learning rate α (default 0.5): the base rate the schedule scales. */
  readonly learningRate?: number;
  /** The update rule (default plain sgd: gradient descent); see `OptimizerOptions`. */
  readonly optimizer?: OptimizerOptions;
  /** How the rate changes per epoch (default constant); see `LrScheduleOptions`. */
  readonly lrSchedule?: LrScheduleOptions;
  /**
   * Stop once the validation loss has not improved for a while and return the best epoch's
   * parameters (Keras' EarlyStopping with restore_best_weights); needs `validation`.
   */
  readonly earlyStopping?: EarlyStoppingOptions;
  /** Seed for initialisation and shuffles (default 1). */
  readonly seed?: number;
  /** Rows per step (default: all rows, the seed's full-batch descent). */
  readonly batchSize?: number;
  /** Arithmetic and storage precision (default f32). */
  readonly dtype?: Dtype;
  /**
   * 0: compute in the calling thread; N ≥ 1: data-parallel on N worker threads; "auto" (the
   * default): the count `autoWorkers` estimates fastest for the batch's shape, said in a note.
   */
  readonly workers?: number | "auto";
  /** Train on worker processes of a NATS cluster instead of threads (`workers` must be 0). */
  readonly cluster?: ClusterOptions;
  /** Kernel backend (default auto). */
  readonly backend?: BackendChoice;
  /**
   * The wasm build of the wasm and blas backends (default auto: see `resolveKernelVariant`);
   * `plain` computes the same bits on Deno and Bun, `relaxed` is faster on Deno.
   */
  readonly kernelVariant?: KernelVariantChoice;
  /** z-score the features with the training rows' statistics (default "zscore"). */
  readonly standardize?: "zscore" | "none";
  /** Rows to report validation loss and accuracy on after each epoch. */
  readonly validation?: Dataset | null;
  /** Start from these parameters instead of a random initialisation. */
  readonly init?: Model;
  /**
   * Called after each epoch, in order; `snapshot` captures the state a checkpoint needs to
   * resume exactly after this epoch (it copies the parameters, so call it only when saving);
   * `phaseMs` reads the phase timers so far, as `TrainResult.phaseMs` (a benchmark subtracts
   * the warm-up epochs' share).
   */
  readonly onEpoch?: (
    report: EpochReport,
    snapshot: () => TrainState,
    phaseMs: () => number[][],
  ) => void;
  /** Continue a run from the state captured after one of its epochs; `epochs` stays the total. */
  readonly resume?: TrainState;
  /**
   * Called with notes a user should see: once at the start (backend fallback, idle workers) and,
   * on a cluster, for each join, leave and reassignment.
   */
  readonly onNote?: (note: string) => void;
  /** Stops training after the current step; `train` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Where a thread that trains run after run (a sweep's) keeps its workspace memory and kernels:
   * the run borrows them instead of allocating its own. Used only when the run computes in the
   * calling thread (`workers` 0, no cluster); the results are the same bits either way.
   */
  readonly workspacePool?: WorkspacePool;
}

/** When to stop training early. */
export interface EarlyStoppingOptions {
  /** P ≥ 1: stop after P epochs in a row without an improvement. */
  readonly patience: number;
  /**
   * D ≥ 0: an epoch improves when its validation loss is below the best so far minus D
   * (default 0).
   */
  readonly minDelta?: number;
}

/** The best epoch so far, by validation loss, when stopping early. */
export interface BestEpoch {
  /** Counts from 1. */
  readonly epoch: number;
  readonly valLoss: number;
  /** Its parameters, widened to float64. */
  readonly params: Float64Array;
}

/** Everything besides the data and options that decides the rest of a run. */
export interface TrainState {
  /** Epochs completed. */
  readonly epoch: number;
  /** W1 | b1 | W2 | b2 as trained, widened to float64 (exact for float32 runs). */
  readonly params: Float64Array;
  /** The shuffling generator's state after that epoch. */
  readonly shuffleState: readonly number[];
  /** Updates taken so far: the optimizer's step count t (default 0, for plain sgd's states). */
  readonly steps?: number;
  /**
   * The optimizer's state after that epoch: its first array, then its second (see
   * `OptimizerState`), `stateArrays` × the parameter count values (empty for plain sgd).
   */
  readonly optimizerState?: Float64Array;
  /** With early stopping: the best epoch so far. */
  readonly best?: BestEpoch | null;
}

/** What one epoch measured, from the forward passes that produced its gradients. */
export interface EpochReport {
  /** Counts from 1. */
  readonly epoch: number;
  /** Mean binary cross-entropy over the epoch's training rows (before the update, in full batch). */
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss?: number;
  readonly valAccuracy?: number;
  /** Wall time of the epoch. */
  readonly ms: number;
}

/** The trained model and how training went. */
export interface TrainResult {
  readonly model: Model;
  readonly history: readonly EpochReport[];
  /** Wall time of the epochs (not of setup). */
  readonly ms: number;
  /** Who computed the steps. */
  readonly engine: EngineKind;
  /** On a cluster: processes at the end, bytes and synchronization per step. */
  readonly transport?: TransportReport;
  readonly workers: number;
  readonly backend: string;
  /** The wasm build that ran, after `auto` was resolved; null for the js backend. */
  readonly kernelVariant: WasmVariant | null;
  readonly samplesPerSecond: number;
  /** Steps taken in this call. */
  readonly steps: number;
  /** With early stopping: the best epoch, whose parameters `model` holds. */
  readonly best?: { readonly epoch: number; readonly valLoss: number };
  /** Whether early stopping ended the run before `epochs`. */
  readonly stoppedEarly: boolean;
  /** How the returned model classifies the training rows and, with `validation`, those. */
  readonly metrics: {
    readonly training: ClassificationMetrics;
    readonly validation: ClassificationMetrics | null;
  };
  /**
   * Per computing thread, milliseconds in each phase over the run: [compute, barrier wait,
   * reduce + update] (see `Phase`); one row for `workers: 0`.
   */
  readonly phaseMs: readonly (readonly number[])[];
}

/**
 * Trains the network on binary cross-entropy, by default with plain gradient descent, else with
 * the optimizer and learning-rate schedule of `options`.
 * With `workers` ≥ 1 every batch is sharded across worker threads; the result is bit-identical
 * to `workers: 0` for the same data, options, backend and kernel variant.
 *
 * @example
 * ```ts
 * const data = generate("xor", 2000, 2, 1);
 * const { model, history } = await train(data, { epochs: 200, hidden: 16, workers: 2 });
 * ```
 */
export async function train(data: Dataset, options: TrainOptions): Promise<TrainResult> {
  const pool = options.workspacePool;
  if (pool === undefined) return await trainRun(data, options, null);
  const held: { lease: WorkspaceLease | null } = { lease: null };
  try {
    return await trainRun(data, options, (layout) => held.lease = pool.lend(layout));
  } finally {
    held.lease?.release();
  }
}

/** `train`, given how to borrow a pool's workspace (null: allocate one). */
async function trainRun(
  data: Dataset,
  options: TrainOptions,
  lend: ((layout: WorkspaceLayout) => WorkspaceLease) | null,
): Promise<TrainResult> {
  const dtype = options.dtype ?? "f32";
  const seed = options.seed ?? 1;
  const requested = options.workers ?? "auto";
  if (options.cluster && requested !== 0 && requested !== "auto") {
    throw new UsageError(
      "workers and cluster exclude each other: a cluster's workers are processes",
    );
  }
  const lr = options.learningRate ?? 0.5;
  const optimizer = optimizerConfig(options.optimizer);
  const schedule = lrSchedule(options.lrSchedule ?? {}, lr, options.epochs);
  const stopping = earlyStopping(options.earlyStopping, options.validation);
  const m = data.samples;
  const batchSize = Math.min(options.batchSize ?? m, m);
  if (options.init && options.init.features !== data.features) {
    throw new DataError(
      `the initial model has ${options.init.features} features, the data set has ${data.features}`,
    );
  }
  checkBothClasses(data);
  const n = data.features;
  const h = options.init?.hidden ?? options.hidden ?? DEFAULT_HIDDEN;
  const backend = resolveBackend(options.backend ?? "auto");
  const auto = requested === "auto" && !options.cluster
    ? autoWorkers({
      batchRows: batchSize,
      chunks: chunkCount(batchSize, Math.min(chunkRowsFor(batchSize), batchSize)),
      features: n,
      hidden: h,
      dtype,
      backend: backend.name,
      cpus: logicalCpus(),
    })
    : null;
  const workers = auto?.workers ?? (requested === "auto" ? 0 : requested);
  const choice: EngineChoice = options.cluster
    ? { kind: "cluster", cluster: options.cluster }
    : workers === 0
    ? { kind: "local" }
    : { kind: "threads", workers };
  // Before anything of the run's size is allocated.
  const layout = planRunMemory({
    dtype,
    samples: m,
    features: n,
    hidden: h,
    validationSamples: options.validation?.samples ?? 0,
    batchSize,
    workers: scratchSlots(choice),
    standardize: options.standardize !== "none",
    optimizer,
  });
  const stats = options.standardize === "none" ? undefined : fitStandardization(data);
  const trainRows = stats ? applyStandardization(data, stats) : data;
  const validation = options.validation && stats
    ? applyStandardization(options.validation, stats)
    : options.validation ?? null;
  const start = options.init ?? initModel(n, h, seed);
  const lease = lend !== null && choice.kind === "local" ? lend(layout) : null;
  const memory = lease?.memory ?? allocateWorkspace(layout);
  const ws = workspaceViews(memory, layout);
  ws.x.set(trainRows.x);
  ws.y.set(trainRows.y);
  checkRepresentable(ws.x, data, "training", dtype, stats !== undefined);
  if (validation) {
    ws.xVal.set(validation.x);
    ws.yVal.set(validation.y);
    checkRepresentable(ws.xVal, options.validation!, "validation", dtype, stats !== undefined);
  }
  if (options.resume && options.resume.params.length !== layout.paramCount) {
    throw new DataError(
      `the resumed state has ${options.resume.params.length} parameters, a network of ` +
        `${n} features and ${h} hidden units has ${layout.paramCount}`,
    );
  }
  ws.params.all.set(options.resume?.params ?? start.params);
  const stateValues = stateArrays(optimizer) * layout.paramCount;
  const resumedState = options.resume?.optimizerState ?? new Float64Array(0);
  if (options.resume && resumedState.length !== stateValues) {
    throw new DataError(
      `the resumed state has ${resumedState.length} optimizer values, ${optimizer.kind} ` +
        `keeps ${stateValues} for this network`,
    );
  }
  // The two arrays are contiguous in the workspace, in the order a snapshot lists them.
  const stateView = new Float64Array(
    memory.buffer,
    layout.optimizerState.offset,
    layout.optimizerState.length,
  );
  stateView.set(resumedState);

  if (backend.note) options.onNote?.(backend.note);
  if (auto) options.onNote?.(auto.note);
  const kernelVariant = resolveKernelVariant(backend.name, options.kernelVariant ?? "auto");
  let kernels = lease
    ? await lease.kernels(
      `${backend.name} ${dtype} ${kernelVariant}`,
      (on) => loadKernels(backend.name, dtype, on, kernelVariant),
    )
    : await loadKernels(backend.name, dtype, memory, kernelVariant);
  const chunks = chunkCount(batchSize, layout.chunkRows);
  if (workers > chunks) {
    options.onNote?.(
      `${workers} workers but each batch has only ${chunks} chunk${chunks === 1 ? "" : "s"} of ` +
        `up to ${layout.chunkRows} rows: at most ${chunks} compute in a step, the others only ` +
        `share the reduction`,
    );
  }
  const engine = await createEngine(choice, {
    workspace: ws,
    kernels,
    backend: backend.name,
    kernelVariant,
    ...(options.onNote ? { onLog: options.onNote } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });

  // A cluster may pin another build on which all its processes agree; evaluate with it too.
  const computedWith = engine.kernelVariant === undefined ? kernelVariant : engine.kernelVariant;
  if (computedWith !== kernelVariant) {
    kernels = await loadKernels(backend.name, dtype, memory, computedWith);
  }

  const phaseTotals = () => engine.phaseMs();
  const history: EpochReport[] = [];
  const shuffle = new Rng(seed, "shuffle");
  if (options.resume) shuffle.restore(options.resume.shuffleState);
  const shuffled = batchSize < m;
  const batches = batchRanges(m, batchSize).map((range) => ({ ...range, shuffled }));
  const order = shuffled ? new Int32Array(m) : null;
  const valStats = new Float64Array(2);
  let trainingMs = 0;
  let steps = 0;
  let t = options.resume?.steps ?? 0;
  let best: BestEpoch | null = options.resume?.best ?? null;
  let stoppedEarly = false;
  const firstEpoch = (options.resume?.epoch ?? 0) + 1;
  let transport: TransportReport | undefined;
  let computing = engine.workers;
  try {
    for (let epoch = firstEpoch; epoch <= options.epochs; epoch++) {
      const t0 = performance.now();
      if (order) {
        for (let i = 0; i < m; i++) order[i] = i;
        shuffle.shuffle(order);
      }
      let lossSum = 0;
      let correct = 0;
      const rate = scheduledLearningRate(schedule, epoch - 1);
      for (const batch of batches) {
        t++;
        // The local engine steps synchronously: no await, so no trip through the event loop per step.
        const pending = engine.step({ batch, order, epoch, learningRate: rate, step: t });
        const out = pending instanceof Promise ? await pending : pending;
        steps++;
        for (let c = 0; c < out.chunks; c++) {
          lossSum += out.chunkStats[2 * c];
          correct += out.chunkStats[2 * c + 1];
        }
        options.signal?.throwIfAborted();
      }
      const loss = lossSum / m;
      // The loss comes from the parameters before the last update, so that update is checked too:
      // no epoch with non-finite parameters reaches `onEpoch` or the returned model.
      if (!Number.isFinite(loss) || !allFinite(ws.params.all)) {
        const what = Number.isFinite(loss)
          ? "the update made parameters non-finite"
          : `the loss is ${loss}`;
        throw new DivergenceError(
          `training diverged at epoch ${epoch}: ${what}; the learning rate ${rate} is probably ` +
            `too large (try a smaller ${option("learningRate")})`,
        );
      }
      if (validation) {
        valStats.fill(0);
        evaluateValidation(ws, kernels, valStats);
      }
      if (stopping) {
        const valLoss = valStats[0] / validation!.samples;
        if (best === null || valLoss < best.valLoss - stopping.minDelta) {
          best = { epoch, valLoss, params: Float64Array.from(ws.params.all) };
        }
      }
      const ms = performance.now() - t0;
      trainingMs += ms;
      const report: EpochReport = validation
        ? {
          epoch,
          loss,
          accuracy: correct / m,
          ms,
          valLoss: valStats[0] / validation.samples,
          valAccuracy: valStats[1] / validation.samples,
        }
        : { epoch, loss, accuracy: correct / m, ms };
      history.push(report);
      const taken = t;
      const kept = best;
      options.onEpoch?.(report, () => ({
        epoch,
        params: Float64Array.from(ws.params.all),
        shuffleState: shuffle.state(),
        steps: taken,
        optimizerState: stateView.slice(),
        ...(stopping ? { best: kept } : {}),
      }), phaseTotals);
      if (stopping && best !== null && epoch - best.epoch >= stopping.patience) {
        stoppedEarly = epoch < options.epochs;
        break;
      }
    }
  } finally {
    transport = engine.transport?.();
    computing = engine.workers;
    await engine.close();
  }
  // Keras' restore_best_weights: the best epoch's parameters, whether or not the run stopped.
  if (stopping && best) ws.params.all.set(best.params);
  const model: Model = {
    features: n,
    hidden: h,
    params: Float64Array.from(ws.params.all),
    ...(stats ? { standardization: stats } : {}),
    columns: datasetColumns(data),
  };
  // On the rows as the run holds them (standardized, in its dtype), with its kernels: no copy.
  const metricsOf = (x: Floats, y: Floats, rows: number, labels: Float64Array) => {
    const probabilities = new Float64Array(rows);
    const sums = new Float64Array(2);
    forwardRows(kernels, x, y, rows, ws.params, n, h, ws.scratch[0], sums, probabilities);
    return classificationMetrics(probabilities, labels);
  };
  return {
    model,
    history,
    ms: trainingMs,
    engine: engine.kind,
    ...(transport ? { transport } : {}),
    workers: computing,
    backend: backend.name,
    kernelVariant: computedWith,
    samplesPerSecond: (m * history.length) / (trainingMs / 1000),
    steps,
    ...(stopping && best ? { best: { epoch: best.epoch, valLoss: best.valLoss } } : {}),
    stoppedEarly,
    metrics: {
      training: metricsOf(ws.x, ws.y, m, data.y),
      validation: validation ? metricsOf(ws.xVal, ws.yVal, validation.samples, validation.y) : null,
    },
    phaseMs: phaseTotals(),
  };
}

/** Early stopping validated, with its default filled in; null without it. */
function earlyStopping(
  options: EarlyStoppingOptions | undefined,
  validation: Dataset | null | undefined,
): { patience: number; minDelta: number } | null {
  if (options === undefined) return null;
  const { patience, minDelta = 0 } = options;
  if (!(Number.isInteger(patience) && patience >= 1)) {
    throw new UsageError(`earlyStopping.patience: expected an integer ≥ 1, got ${patience}`);
  }
  if (!(Number.isFinite(minDelta) && minDelta >= 0)) {
    throw new UsageError(`earlyStopping.minDelta: expected a number ≥ 0, got ${minDelta}`);
  }
  if (!validation) {
    throw new UsageError("earlyStopping needs validation rows to watch the validation loss");
  }
  return { patience, minDelta };
}

/**
 * Features that the run's arithmetic cannot hold would surface as a divergence at epoch 1 and
 * blame the learning rate; they are a property of the data, and named as such.
 */
function checkRepresentable(
  stored: Floats,
  raw: Dataset,
  rows: string,
  dtype: Dtype,
  standardized: boolean,
): void {
  for (let i = 0; i < stored.length; i++) {
    if (Number.isFinite(stored[i])) continue;
    const name = JSON.stringify(raw.featureNames[i % raw.features]);
    throw new DataError(
      standardized
        ? `feature ${name} cannot be standardized: its values are too large to sum in float64`
        : `feature ${name} of ${rows} row ${Math.floor(i / raw.features) + 1} is ${raw.x[i]}, ` +
          `beyond the range of ${dtype} (use ${option("dtype")} f64 or ${
            option("standardize")
          } zscore)`,
    );
  }
}

/** A single class would train a constant; the data set is refused instead, as a CSV of one is. */
function checkBothClasses(data: Dataset): void {
  let ones = 0;
  for (let i = 0; i < data.samples; i++) ones += data.y[i] === 1 ? 1 : 0;
  if (ones === 0 || ones === data.samples) {
    throw new DataError(
      `the ${data.samples} training rows are all of class ${ones === 0 ? 0 : 1}; ` +
        `training needs both classes, 0 and 1`,
    );
  }
}

function evaluateValidation(
  ws: WorkspaceViews,
  kernels: Kernels,
  stats: Float64Array,
): void {
  const { features: n, hidden: h, validationSamples } = ws.layout.shape;
  forwardRows(kernels, ws.xVal, ws.yVal, validationSamples, ws.params, n, h, ws.scratch[0], stats);
}
