import { paramCount } from "../model/params.ts";
import {
  checkMemory,
  formatBytes,
  hostMemoryLimit,
  type MemoryPart,
  SHARED_MEMORY_LIMIT,
} from "../runtime/memory_limit.ts";
import { planWorkspace, type WorkspaceLayout, type WorkspaceShape } from "./workspace.ts";

/**
 * What one worker thread costs besides its share of the workspace: a runtime instance with its
 * heap and compiled code. Deno's are the larger; this is their size, rounded up.
 */
export const WORKER_THREAD_BYTES = 16 * 2 ** 20;

/**
 * The shape of a training run, as far as memory goes: the workspace's shape, with the worker
 * threads it is planned for and whether the rows are standardized (a float64 copy of them).
 */
export interface RunShape extends Omit<WorkspaceShape, "threads" | "chunkRows"> {
  /** Worker threads; 0 computes in the calling thread. */
  readonly workers: number;
  readonly standardize: boolean;
}

/**
 * Plans the memory a training run of this shape needs, from the shape alone, and throws a
 * `MemoryLimitError` before anything is allocated when the shared workspace exceeds 4 GiB or the
 * whole exceeds `hostLimit` (default `hostMemoryLimit()`). Returns the workspace's layout.
 *
 * @example
 * ```ts
 * planRunMemory({ dtype: "f32", samples: 32768, features: 1024, hidden: 16384,
 *   validationSamples: 0, batchSize: 32768, workers: 2, standardize: true });
 * // throws: … the largest part is the partial gradients (64 chunks × …) …
 * ```
 */
export function planRunMemory(shape: RunShape, hostLimit = hostMemoryLimit()): WorkspaceLayout {
  const layout = planWorkspace({ ...shape, threads: shape.workers });
  const parts = workspaceParts(layout);
  const rows = shape.samples + shape.validationSamples;
  const n = shape.features;
  // The rows as loaded, and their standardized copy: float64 each.
  const copies = shape.standardize ? 2 : 1;
  const size = paramCount(n, shape.hidden);
  const host: MemoryPart[] = [
    ...parts.map((part) =>
      part.what === "the data"
        ? {
          ...part,
          shape: `${part.shape} in the workspace, and ${copies} float64 ${
            copies > 1 ? "copies" : "copy"
          }`,
          bytes: part.bytes + copies * rows * (n + 1) * 8,
        }
        : part.what === "the parameters"
        // The initial model, the trained model, a checkpoint's snapshot and early stopping's
        // best epoch, in float64.
        ? { ...part, bytes: part.bytes + 4 * size * 8 }
        : part.what === "the optimizer's state"
        // And a checkpoint's snapshot of it.
        ? { ...part, bytes: 2 * part.bytes }
        : part
    ),
    {
      what: "the worker threads",
      shape: `${shape.workers} × ${formatBytes(WORKER_THREAD_BYTES)}`,
      bytes: shape.workers * WORKER_THREAD_BYTES,
      reduce: "use fewer {workers}",
    },
  ];
  checkMemory(host, hostLimit, "this machine allows (three quarters of its memory)");
  return layout;
}

/**
 * The parts of a workspace's shared memory, and throws a `MemoryLimitError` naming the largest
 * when they exceed 4 GiB. `planWorkspace` calls it on every layout it makes.
 */
export function checkSharedMemory(layout: WorkspaceLayout): void {
  if (layout.bytes <= SHARED_MEMORY_LIMIT) return;
  checkMemory(
    workspaceParts(layout),
    SHARED_MEMORY_LIMIT,
    "that one shared memory can hold",
    "the shared workspace",
  );
}

function workspaceParts(layout: WorkspaceLayout): MemoryPart[] {
  const { dtype, samples, features: n, hidden: h, validationSamples } = layout.shape;
  const width = dtype === "f32" ? 4 : 8;
  const threads = layout.scratch.length;
  const bytes = (...regions: { length: number }[]) =>
    regions.reduce((sum, r) => sum + r.length, 0) * width;
  const f32 = dtype === "f64" ? " or {dtype} f32" : "";
  const scratchBytes = layout.scratch.reduce(
    (sum, s) => sum + bytes(s.a1, s.z, s.gx, s.gy),
    0,
  );
  return [
    {
      what: "the data",
      shape: `${samples + validationSamples} rows × ${n} features × ${width} bytes`,
      bytes: bytes(layout.x, layout.y, layout.xVal, layout.yVal) + layout.order.length * 4,
      reduce: `use less data: fewer rows or features ({samples}, {features} of a generator)${f32}`,
    },
    {
      what: "the parameters",
      shape: `${layout.paramCount} parameters (${h} hidden × ${n} features) × ${width} bytes`,
      bytes: bytes(layout.params),
      reduce: `use a smaller {hidden}${f32}`,
    },
    {
      what: "the partial gradients",
      shape: `${layout.maxChunks} chunks × ${layout.paramCount} parameters × ${width} bytes`,
      bytes: bytes(layout.partials),
      reduce: `use a smaller {hidden}, or a {batchSize} of fewer chunks ` +
        `(below 32768 rows, one chunk per 512)${f32}`,
    },
    {
      what: "the optimizer's state",
      shape: `${layout.optimizerState.length / Math.max(1, layout.paramCount)} arrays × ` +
        `${layout.paramCount} parameters × 8 bytes`,
      bytes: layout.optimizerState.length * 8,
      reduce: `use a smaller {hidden}, or an {optimizer} with less state`,
    },
    {
      what: "the per-thread scratch",
      shape: `${threads} threads × ${layout.chunkRows} rows × ${h} hidden × ${width} bytes`,
      bytes: scratchBytes,
      reduce: `use fewer {workers} or a smaller {hidden}${f32}`,
    },
  ];
}
