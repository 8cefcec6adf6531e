import { type Dtype, type Floats, floatView } from "../dtype.ts";
import { paramCount, type ParamViews, paramViews } from "../model/params.ts";
import {
  type OptimizerConfig,
  optimizerConfig,
  type OptimizerState,
  optimizerState,
  stateArrays,
} from "./optimizer.ts";
import { checkSharedMemory } from "./memory_plan.ts";
import { chunkCount, chunkRowsFor } from "./shards.ts";

/**
 * Everything the threads of one training run share, laid out in one shared WebAssembly.Memory:
 * the data set (once, whatever the worker count), the parameters, one partial-gradient slot per
 * chunk, the control words that synchronize steps, and a fixed scratch area per computing thread.
 * WebAssembly kernels address it directly; JavaScript kernels see it as typed views.
 */
export interface WorkspaceShape {
  readonly dtype: Dtype;
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly validationSamples: number;
  /** Rows per step; less than `samples` means shuffled mini-batches. */
  readonly batchSize: number;
  /** Threads that compute partial gradients, each with its own scratch slot. */
  readonly threads: number;
  /** Rows per chunk (default: `chunkRowsFor(batchSize)`); fixed by the run, not by this shape. */
  readonly chunkRows?: number;
  /**
   * The update rule and its hyperparameters (default: plain sgd, no state). They are fixed for
   * the run, so they travel with the layout: every thread that updates a slice reads the same
   * plain data at its start, and only the per-step values (rate, step count) are published in
   * `stepValues`. The optimizer's state lives in the workspace for the same reason.
   */
  readonly optimizer?: OptimizerConfig;
}

/** A region: byte offset into the memory and length in elements. */
interface Region {
  readonly offset: number;
  readonly length: number;
}

/** Where each region lives: plain data, so it crosses to workers as it is. */
export interface WorkspaceLayout {
  readonly shape: WorkspaceShape;
  readonly chunkRows: number;
  readonly maxChunks: number;
  readonly paramCount: number;
  /** Elements between consecutive partial-gradient slots (the parameter count, padded). */
  readonly partialStride: number;
  readonly bytes: number;
  readonly control: Region;
  readonly chunkStats: Region;
  /** The published step's float64 inputs: see `StepValue`. */
  readonly stepValues: Region;
  /** Per computing thread, milliseconds spent in each phase: see `Phase`. */
  readonly phaseTimes: Region;
  readonly order: Region;
  readonly x: Region;
  readonly y: Region;
  readonly xVal: Region;
  readonly yVal: Region;
  readonly params: Region;
  readonly partials: Region;
  /** The optimizer and its float64 state, `stateArrays(optimizer)` × the parameter count. */
  readonly optimizer: OptimizerConfig;
  readonly optimizerState: Region;
  readonly scratch: readonly ScratchLayout[];
}

interface ScratchLayout {
  /** Hidden activations, then dZ1 in place: chunkRows × h. */
  readonly a1: Region;
  /** Output logits, then dZ2 in place: chunkRows. */
  readonly z: Region;
  /** A chunk's rows gathered from a shuffled order: chunkRows × n (mini-batches only). */
  readonly gx: Region;
  readonly gy: Region;
}

/** Regions start on 64-byte boundaries: a cache line, and more than any SIMD width needs. */
const ALIGN = 64;
const PAGE = 65536;

/**
 * What each computing thread's time is spent on, accumulated over the run so that a benchmark
 * can break a step down: computing partial gradients, waiting at the barrier until every chunk of
 * the step is done, and reducing plus updating parameter slices (one fused pass per slice).
 */
export const Phase = { COMPUTE: 0, BARRIER: 1, REDUCE: 2 } as const;
const PHASES = 3;

/**
 * The float64 inputs of the step being computed, beside the integer ones in the control words:
 * the learning rate, or NaN for a step that only sums the gradient, and the optimizer's step
 * count t (see `StepInput`).
 */
export const StepValue = { LEARNING_RATE: 0, STEP: 1 } as const;
const STEP_VALUES = 2;

/** Int32 control words before the per-thread ones; see `Control`. */
export const CONTROL_WORDS = 16;

/**
 * Plans the layout of a workspace of the given shape; a `MemoryLimitError` naming the largest
 * part when it exceeds the 4 GiB that one shared memory holds.
 *
 * @example
 * ```ts
 * const layout = planWorkspace({ dtype: "f64", samples: 569, features: 30, hidden: 8,
 *   validationSamples: 0, batchSize: 569, threads: 2 });
 * ```
 */
export function planWorkspace(shape: WorkspaceShape): WorkspaceLayout {
  const width = shape.dtype === "f32" ? 4 : 8;
  const { features: n, hidden: h } = shape;
  const chunkRows = shape.chunkRows ?? Math.min(chunkRowsFor(shape.batchSize), shape.batchSize);
  const maxChunks = chunkCount(shape.batchSize, chunkRows);
  const size = paramCount(n, h);
  const partialStride = Math.ceil(size / 16) * 16;
  const shuffled = shape.batchSize < shape.samples;
  let end = 0;
  const region = (length: number, bytesPerElement: number): Region => {
    const offset = Math.ceil(end / ALIGN) * ALIGN;
    end = offset + length * bytesPerElement;
    return { offset, length };
  };
  const control = region(CONTROL_WORDS + shape.threads, 4);
  const chunkStats = region(2 * maxChunks, 8);
  const stepValues = region(STEP_VALUES, 8);
  const phaseTimes = region(Math.max(1, shape.threads) * PHASES, 8);
  const order = region(shuffled ? shape.samples : 0, 4);
  const x = region(shape.samples * n, width);
  const y = region(shape.samples, width);
  const xVal = region(shape.validationSamples * n, width);
  const yVal = region(shape.validationSamples, width);
  const params = region(size, width);
  const partials = region(maxChunks * partialStride, width);
  const optimizer = shape.optimizer ?? optimizerConfig();
  const optimizerStateRegion = region(stateArrays(optimizer) * size, 8);
  const scratch: ScratchLayout[] = [];
  for (let t = 0; t < Math.max(1, shape.threads); t++) {
    scratch.push({
      a1: region(chunkRows * h, width),
      z: region(chunkRows, width),
      gx: region(shuffled ? chunkRows * n : 0, width),
      gy: region(shuffled ? chunkRows : 0, width),
    });
  }
  const bytes = Math.ceil(end / PAGE) * PAGE;
  const layout: WorkspaceLayout = {
    shape,
    chunkRows,
    maxChunks,
    paramCount: size,
    partialStride,
    bytes,
    control,
    chunkStats,
    stepValues,
    phaseTimes,
    order,
    x,
    y,
    xVal,
    yVal,
    params,
    partials,
    optimizer,
    optimizerState: optimizerStateRegion,
    scratch,
  };
  checkSharedMemory(layout);
  return layout;
}

/** Allocates the shared memory for a layout. */
export function allocateWorkspace(layout: WorkspaceLayout): WebAssembly.Memory {
  const pages = layout.bytes / PAGE;
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** One thread's scratch as typed views. */
export interface ScratchViews {
  readonly a1: Floats;
  readonly z: Floats;
  readonly gx: Floats;
  readonly gy: Floats;
}

/** Typed views on a workspace; every thread builds its own from the shared memory and the layout. */
export interface WorkspaceViews {
  readonly layout: WorkspaceLayout;
  readonly memory: WebAssembly.Memory;
  readonly control: Int32Array;
  readonly chunkStats: Float64Array;
  readonly stepValues: Float64Array;
  /** Chunk c's [loss sum, correct count], a view on `chunkStats`. */
  readonly chunkStatSlots: readonly Float64Array[];
  /** Thread t's milliseconds in phase p at `phaseTimes[t * 3 + p]`. */
  readonly phaseTimes: Float64Array;
  readonly order: Int32Array;
  readonly x: Floats;
  readonly y: Floats;
  readonly xVal: Floats;
  readonly yVal: Floats;
  readonly params: ParamViews;
  /** The parameter-shaped views of every chunk's partial-gradient slot, in chunk order. */
  readonly partials: Floats;
  readonly partialSlots: readonly ParamViews[];
  /** The optimizer's state over the whole parameter vector (zeros before the first step). */
  readonly optimizerState: OptimizerState;
  readonly scratch: readonly ScratchViews[];
}

/**
 * Typed views on `memory` as `layout` describes it.
 *
 * @example
 * ```ts
 * const views = workspaceViews(allocateWorkspace(layout), layout);
 * views.x.set(rows);
 * ```
 */
export function workspaceViews(
  memory: WebAssembly.Memory,
  layout: WorkspaceLayout,
): WorkspaceViews {
  const buffer = memory.buffer;
  const floats = (r: Region): Floats => floatView(layout.shape.dtype, buffer, r.offset, r.length);
  const { features: n, hidden: h } = layout.shape;
  const partials = floats(layout.partials);
  const partialSlots: ParamViews[] = [];
  for (let c = 0; c < layout.maxChunks; c++) {
    partialSlots.push(paramViews(partials, n, h, c * layout.partialStride));
  }
  const chunkStats = new Float64Array(buffer, layout.chunkStats.offset, layout.chunkStats.length);
  const chunkStatSlots: Float64Array[] = [];
  for (let c = 0; c < layout.maxChunks; c++) {
    chunkStatSlots.push(chunkStats.subarray(2 * c, 2 * c + 2));
  }
  return {
    layout,
    memory,
    control: new Int32Array(buffer, layout.control.offset, layout.control.length),
    chunkStats,
    chunkStatSlots,
    stepValues: new Float64Array(buffer, layout.stepValues.offset, layout.stepValues.length),
    phaseTimes: new Float64Array(buffer, layout.phaseTimes.offset, layout.phaseTimes.length),
    order: new Int32Array(buffer, layout.order.offset, layout.order.length),
    x: floats(layout.x),
    y: floats(layout.y),
    xVal: floats(layout.xVal),
    yVal: floats(layout.yVal),
    params: paramViews(floats(layout.params), n, h),
    partials,
    partialSlots,
    optimizerState: optimizerState(
      layout.optimizer,
      layout.paramCount,
      new Float64Array(buffer, layout.optimizerState.offset, layout.optimizerState.length),
    ),
    scratch: layout.scratch.map((s) => ({
      a1: floats(s.a1),
      z: floats(s.z),
      gx: floats(s.gx),
      gy: floats(s.gy),
    })),
  };
}
