import { Bench } from "tinybench";
import {
  type BackendChoice,
  type BackendName,
  loadKernels,
  resolveBackend,
  resolveKernelVariant,
} from "../kernels/select.ts";
import { ThreadEngine } from "../engines/threads/thread_engine.ts";
import { Rng } from "../rng.ts";
import { runtimeName } from "../runtime/process.ts";
import { StepShare } from "../core/step_share.ts";
import {
  allocateWorkspace,
  planWorkspace,
  type WorkspaceLayout,
  type WorkspaceViews,
  workspaceViews,
} from "../core/workspace.ts";
import type { MicroJob, MicroMeasurement, MicroResult, Shape } from "./jobs.ts";
import { shapeSize } from "./measure_train.ts";

/** A learning rate small enough that repeated steps leave the parameters where they were. */
const TINY_LR = 1e-12;

/** One chunk of 8 rows: a step whose cost is nearly all synchronization. */
const TINY_STEP = {
  batch: { begin: 0, end: 8, shuffled: false },
  order: null,
  epoch: 1,
  learningRate: TINY_LR,
  step: 1,
};

/**
 * Runs a micro job in this process: each kernel on one chunk of every shape (the chunk size the
 * trainer would use for that shape's full batch), the reduction tree over all chunks with the
 * step, the step alone, and one synchronized step round-trip through the
 * worker threads on a one-chunk, 8-row batch, where nearly all of the time is synchronization.
 *
 * @example
 * ```ts
 * const m = await measureMicro({ kind: "micro", shapes, backend: "auto", workers: [1, 2], taskMs: 300 });
 * ```
 */
export async function measureMicro(job: MicroJob): Promise<MicroMeasurement> {
  const backend = resolveBackend(job.backend as BackendChoice).name;
  const results: MicroResult[] = [];
  for (const shape of job.shapes) {
    results.push(...await kernelBenchmarks(shape, backend, job.taskMs));
  }
  results.push(...await roundTripBenchmarks(backend, job.workers, job.taskMs));
  return { kind: "micro", runtime: runtimeName(), backend, results };
}

async function kernelBenchmarks(
  shape: Shape,
  backend: BackendName,
  taskMs: number,
): Promise<MicroResult[]> {
  const { samples: m, features: n } = shapeSize(shape);
  const h = shape.hidden;
  const layout = planWorkspace({
    dtype: shape.dtype,
    samples: m,
    features: n,
    hidden: h,
    validationSamples: 0,
    batchSize: m,
    threads: 1,
  });
  const memory = allocateWorkspace(layout);
  const ws = workspaceViews(memory, layout);
  fillRandom(ws, layout);
  const k = await loadKernels(backend, shape.dtype, memory);
  const rows = layout.chunkRows;
  const { a1, z } = ws.scratch[0];
  const p = ws.params;
  const g = ws.partialSlots[0];
  const stats = new Float64Array(2);
  const width = shape.dtype === "f32" ? 4 : 8;
  const size = layout.paramCount;
  // The trainer's own per-thread code for the composite tasks: one chunk's gradient, and the
  // reduction tree and step over the whole parameter vector.
  const share = new StepShare(k, ws, 0);
  const allParams = { begin: 0, end: size };
  const oneChunk = { begin: 0, end: rows, shuffled: false };
  const tasks: { name: string; fn: () => void; flops?: number; bytes?: number; rows?: number }[] = [
    {
      name: "hiddenForward",
      rows,
      flops: 2 * rows * n * h,
      fn: () => k.hiddenForward(ws.x, 0, rows, n, h, p.w1, p.b1, a1),
    },
    {
      name: "outputLogits",
      rows,
      flops: 2 * rows * h,
      fn: () => k.outputLogits(a1, rows, h, p.w2, p.b2[0], z),
    },
    { name: "outputLoss", rows, fn: () => k.outputLoss(z, ws.y, 0, rows, stats) },
    {
      name: "outputBackward",
      rows,
      flops: 4 * rows * h,
      fn: () => k.outputBackward(a1, z, rows, h, p.w2, g.w2, g.b1, g.b2),
    },
    {
      name: "weightGradient",
      rows,
      flops: 2 * rows * n * h,
      fn: () => k.weightGradient(a1, ws.x, 0, rows, n, h, g.w1),
    },
    {
      name: "chunk gradient",
      rows,
      flops: 4 * rows * n * h + 6 * rows * h,
      fn: () => share.computeChunks(oneChunk, 0, 1),
    },
    {
      name: "reduce+update",
      bytes: layout.maxChunks * size * width,
      fn: () => {
        share.reduceSlice(layout.maxChunks, allParams);
        share.updateSlice(allParams, TINY_LR, m, 1);
      },
    },
    { name: "update", bytes: size * width, fn: () => share.updateSlice(allParams, TINY_LR, m, 1) },
  ];
  const bench = new Bench({ time: taskMs, warmupTime: taskMs / 3, iterations: 10 });
  for (const t of tasks) bench.add(t.name, t.fn);
  await bench.run();
  return tasks.map((t, i) => ({
    ...summarize(bench.tasks[i], t.name, shape.name),
    ...(t.rows !== undefined ? { rows: t.rows } : {}),
    ...(t.flops !== undefined ? { flops: t.flops } : {}),
    ...(t.bytes !== undefined ? { bytes: t.bytes } : {}),
  }));
}

async function roundTripBenchmarks(
  backend: BackendName,
  workerCounts: readonly number[],
  taskMs: number,
): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  for (const workers of workerCounts) {
    const layout = planWorkspace({
      dtype: "f32",
      samples: 8,
      features: 2,
      hidden: 1,
      validationSamples: 0,
      batchSize: 8,
      threads: workers,
    });
    const workspace = workspaceViews(allocateWorkspace(layout), layout);
    const engine = await ThreadEngine.start({
      workspace,
      workers,
      backend,
      kernelVariant: resolveKernelVariant(backend, "auto"),
    });
    try {
      const bench = new Bench({ time: taskMs, warmupTime: taskMs / 3, iterations: 10 });
      // tinybench calls a task once unawaited to see whether it is async; chaining the steps
      // keeps that probe from publishing a step while another is in flight.
      let last = Promise.resolve();
      bench.add(
        "step round-trip",
        () => last = last.then(() => engine.step(TINY_STEP)).then(() => {}),
      );
      await bench.run();
      results.push({ ...summarize(bench.tasks[0], "step round-trip", "8 rows"), workers });
    } finally {
      await engine.close();
    }
  }
  return results;
}

/** Random rows, labels, parameters and partials: kernels then take their usual branches. */
function fillRandom(ws: WorkspaceViews, layout: WorkspaceLayout): void {
  const rng = new Rng(1, "bench");
  const rows = layout.chunkRows;
  const n = layout.shape.features;
  for (let i = 0; i < rows * n; i++) ws.x[i] = rng.uniform() * 2 - 1;
  for (let i = 0; i < rows; i++) ws.y[i] = i % 2;
  const scale = 1 / Math.sqrt(n);
  for (let i = 0; i < ws.params.all.length; i++) ws.params.all[i] = (rng.uniform() * 2 - 1) * scale;
  // The reduction tree sums in place, so repeated runs would grow random partials into
  // infinities; zeros stay zeros and cost the same additions.
  ws.partials.fill(0);
}

function summarize(
  task: Bench["tasks"][number],
  name: string,
  shape: string,
): MicroResult {
  const r = task.result;
  if (r.state !== "completed") {
    throw new Error(
      `micro-benchmark ${name} on ${shape}: ${r.state === "errored" ? r.error.message : r.state}`,
    );
  }
  return {
    name,
    shape,
    medianMs: r.latency.p50,
    minMs: r.latency.min,
    maxMs: r.latency.max,
    samples: r.latency.samplesCount,
  };
}
