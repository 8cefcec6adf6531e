import type { Floats } from "../../dtype.ts";
import type { RunSpec } from "../../core/run_spec.ts";
import { chunkCount, type Range } from "../../core/shards.ts";
import type { StepEngine } from "../../core/step_engine.ts";
import {
  allocateWorkspace,
  planWorkspace,
  type WorkspaceViews,
  workspaceViews,
} from "../../core/workspace.ts";
import { loadKernels } from "../../kernels/select.ts";
import { createEngine } from "../factory.ts";
import { LocalEngine } from "../local/local_engine.ts";
import type { Block } from "./assignment.ts";

/** Copies training rows into a worker's workspace: `x` rows × features and `y` from `offset`. */
export interface RowSource {
  /**
   * Writes rows [range.begin, range.end) of the training set, or when `order` is given the rows
   * `order[range.begin]`, … `order[range.end − 1]`, to `x` and `y` from row `offset` on.
   */
  copyRows(
    range: Range,
    order: Int32Array | null,
    x: Floats,
    y: Floats,
    offset: number,
  ): Promise<void>;
}

/** The gradient sums of the blocks a worker was dealt in one step. */
export interface BlockSums {
  /**
   * One parameter-sized vector per block, back to back in the order the blocks were given: the
   * computer's own memory, rewritten by its next `compute`.
   */
  readonly sums: Floats;
  /** Per chunk of the blocks, in block order: [loss sum, correct count]. */
  readonly chunkStats: Float64Array;
}

/**
 * What a worker process does with a step: for each aligned block of chunks it is dealt, sum the
 * block's gradient through the same reduction tree as everyone else, on its own threads, over rows
 * it holds in its own workspace. A block's chunks are chunks 0, 1, … of a batch made of the block's
 * rows, so the tree over them is the block's subtree of the coordinator's tree.
 *
 * The workspace holds only the rows of the blocks in hand; in full batch they stay laid out from
 * step to step while the dealing does not change. A block of one chunk, and every block of a
 * process of one thread, is computed on the calling thread (the same kernels, so the same bits):
 * waking a thread and being woken by it costs more than it saves there. The process's messages
 * wait meanwhile, for at most one step's work of one thread.
 *
 * @example
 * ```ts
 * const computer = new BlockComputer(spec, 2);
 * const { sums } = await computer.compute(params, batch, blocks, null, rows);
 * ```
 */
export class BlockComputer {
  readonly #spec: RunSpec;
  readonly #threads: number;
  #ws: WorkspaceViews | null = null;
  /** Worker threads, when the process has more than one. */
  #engine: StepEngine | null = null;
  /** The same workspace computed on the calling thread. */
  #local: StepEngine | null = null;
  #capacity = 0;
  #sums: Floats | null = null;
  /** What the workspace holds: the batch and blocks last laid out, in full batch. */
  #laidOut = "";

  constructor(spec: RunSpec, threads: number) {
    this.#spec = spec;
    this.#threads = threads;
  }

  /**
   * Sums each block's gradient at `params` over the batch `batch` (rows of the epoch's `order`,
   * or of the training set in order when null).
   */
  async compute(
    params: Floats,
    batch: Range,
    blocks: readonly Block[],
    order: Int32Array | null,
    rows: RowSource,
  ): Promise<BlockSums> {
    const { chunkRows } = this.#spec;
    const ranges = blocks.map((b) => {
      const begin = batch.begin + b.first * chunkRows;
      return { begin, end: Math.min(batch.end, begin + b.span * chunkRows) };
    });
    const needed = ranges.reduce((n, r) => n + (r.end - r.begin), 0);
    const ws = await this.#workspaceFor(needed);
    const key = order === null ? JSON.stringify([batch, blocks]) : "";
    if (key === "" || key !== this.#laidOut) {
      // Forgotten first: copying may fail half-way (a piece not fetched), leaving other rows.
      this.#laidOut = "";
      let offset = 0;
      for (const r of ranges) {
        await rows.copyRows(r, order, ws.x, ws.y, offset);
        offset += r.end - r.begin;
      }
      this.#laidOut = key;
    }
    ws.params.all.set(params);
    const size = ws.params.all.length;
    const sums = this.#sumsFor(size * blocks.length);
    const chunks = ranges.reduce((n, r) => n + chunkCount(r.end - r.begin, chunkRows), 0);
    const chunkStats = new Float64Array(2 * chunks);
    let offset = 0;
    let statAt = 0;
    for (const [b, r] of ranges.entries()) {
      const local = { begin: offset, end: offset + (r.end - r.begin), shuffled: false };
      const engine = this.#engine === null || local.end - local.begin <= chunkRows
        ? this.#local!
        : this.#engine;
      const out = await engine.step({
        batch: local,
        order: null,
        epoch: 0,
        learningRate: null,
        step: 0,
      });
      sums.set(ws.partialSlots[0].all, b * size);
      chunkStats.set(out.chunkStats.subarray(0, 2 * out.chunks), statAt);
      statAt += 2 * out.chunks;
      offset = local.end;
    }
    return { sums, chunkStats };
  }

  /** Releases the threads. */
  async close(): Promise<void> {
    await this.#engine?.close();
    this.#engine = null;
    this.#local = null;
    this.#ws = null;
  }

  /** `length` floats of memory kept from step to step (fresh memory each step faults its pages). */
  #sumsFor(length: number): Floats {
    if (this.#sums === null || this.#sums.length < length) {
      this.#sums = this.#spec.dtype === "f32" ? new Float32Array(length) : new Float64Array(length);
    }
    return this.#sums.subarray(0, length);
  }

  /** A workspace holding at least `rows` rows, kept while it is large enough. */
  async #workspaceFor(rows: number): Promise<WorkspaceViews> {
    if (this.#ws && rows <= this.#capacity) return this.#ws;
    await this.close();
    const spec = this.#spec;
    const capacity = Math.max(rows, spec.chunkRows);
    const layout = planWorkspace({
      dtype: spec.dtype,
      samples: capacity,
      features: spec.features,
      hidden: spec.hidden,
      validationSamples: 0,
      batchSize: capacity,
      threads: this.#threads,
      chunkRows: spec.chunkRows,
    });
    const memory = allocateWorkspace(layout);
    const ws = workspaceViews(memory, layout);
    const kernels = await loadKernels(spec.backend, spec.dtype, memory, spec.kernelVariant);
    this.#engine = this.#threads === 1
      ? null
      : await createEngine({ kind: "threads", workers: this.#threads }, {
        workspace: ws,
        kernels,
        backend: spec.backend,
        kernelVariant: spec.kernelVariant,
      });
    this.#local = new LocalEngine(kernels, ws);
    this.#ws = ws;
    this.#capacity = capacity;
    this.#laidOut = "";
    return ws;
  }
}
