/**
 * The contract every StepEngine keeps, as a suite any engine's test runs against its own factory:
 * the local engine, worker threads, and worker processes all take the same steps to the same bits.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { batchRanges, chunkCount } from "../src/core/shards.ts";
import type { StepEngine } from "../src/core/step_engine.ts";
import {
  allocateWorkspace,
  planWorkspace,
  type WorkspaceViews,
  workspaceViews,
} from "../src/core/workspace.ts";
import { generate } from "../src/data/generators.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import { jsKernels } from "../src/kernels/js.ts";
import { initModel } from "../src/model/model.ts";
import { Rng } from "../src/rng.ts";

/** Starts the engine under test on a workspace planned for `threads` computing threads. */
export type EngineMaker = (workspace: WorkspaceViews, kernels: Kernels) => Promise<StepEngine>;

const N = 5, H = 6;

/**
 * A workspace of `samples` generated rows (f64, js kernels), batches of `batchSize`, cut into
 * chunks of 32 rows: small batches then span several chunks, as large ones do in training.
 */
export function contractWorkspace(samples: number, batchSize: number, threads: number) {
  const layout = planWorkspace({
    dtype: "f64",
    samples,
    features: N,
    hidden: H,
    validationSamples: 0,
    batchSize,
    threads,
    chunkRows: Math.min(32, batchSize),
  });
  const ws = workspaceViews(allocateWorkspace(layout), layout);
  const data = generate("blobs", samples, N, 4);
  ws.x.set(data.x);
  ws.y.set(data.y);
  ws.params.all.set(initModel(N, H, 2).params);
  for (let j = 0; j < H; j++) ws.params.b1[j] = 0.05 * (j - 2);
  return ws;
}

/** The gradient of the mean loss over rows `rows` at `params`, by the design's formulas, in f64. */
function referenceGradient(ws: WorkspaceViews, rows: number[]): Float64Array {
  const p = ws.params;
  const g = new Float64Array(p.all.length);
  const m = rows.length;
  for (const i of rows) {
    const a1 = new Float64Array(H);
    let z2 = p.b2[0];
    for (let j = 0; j < H; j++) {
      let z = p.b1[j];
      for (let k = 0; k < N; k++) z += p.w1[j * N + k] * ws.x[i * N + k];
      a1[j] = z > 0 ? z : 0;
      z2 += p.w2[j] * a1[j];
    }
    const dz2 = 1 / (1 + Math.exp(-z2)) - ws.y[i];
    for (let j = 0; j < H; j++) {
      g[H * N + H + j] += (dz2 * a1[j]) / m;
      const dz1 = a1[j] > 0 ? dz2 * p.w2[j] : 0;
      g[H * N + j] += dz1 / m;
      for (let k = 0; k < N; k++) g[j * N + k] += (dz1 * ws.x[i * N + k]) / m;
    }
    g[H * N + 2 * H] += dz2 / m;
  }
  return g;
}

/** Runs `epochs` epochs through `engine`; returns the parameters' and the statistics' bits. */
async function train(engine: StepEngine, ws: WorkspaceViews, epochs: number) {
  const m = ws.layout.shape.samples;
  const batchSize = ws.layout.shape.batchSize;
  const shuffled = batchSize < m;
  const order = shuffled ? new Int32Array(m) : null;
  const rng = new Rng(3, "shuffle");
  const stats: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    if (order) {
      for (let i = 0; i < m; i++) order[i] = i;
      rng.shuffle(order);
    }
    for (const range of batchRanges(m, batchSize)) {
      const out = await engine.step({
        batch: { ...range, shuffled },
        order,
        epoch,
        learningRate: 0.2,
        step: 1,
      });
      stats.push(...out.chunkStats.subarray(0, 2 * out.chunks));
    }
  }
  return JSON.stringify([Array.from(ws.params.all), stats]);
}

/**
 * Registers the contract's tests for one engine. `threads` is how many computing threads its
 * workspace must be planned for (0 for engines that keep none in the coordinator's workspace).
 */
export function engineContract(make: EngineMaker, threads: number): void {
  async function withEngine<T>(
    samples: number,
    batchSize: number,
    body: (engine: StepEngine, ws: WorkspaceViews) => Promise<T>,
  ): Promise<T> {
    const ws = contractWorkspace(samples, batchSize, threads);
    const engine = await make(ws, jsKernels);
    try {
      return await body(engine, ws);
    } finally {
      await engine.close();
    }
  }

  it("a step descends along the design's gradient and reports every chunk", async () => {
    await withEngine(300, 300, async (engine, ws) => {
      const before = Float64Array.from(ws.params.all);
      const want = referenceGradient(ws, Array.from({ length: 300 }, (_, i) => i));
      const out = await engine.step({
        batch: { begin: 0, end: 300, shuffled: false },
        order: null,
        epoch: 1,
        learningRate: 0.5,
        step: 1,
      });
      assert.equal(out.chunks, chunkCount(300, ws.layout.chunkRows));
      assert.ok(out.chunks > 1, "the case must span several chunks");
      let correct = 0;
      for (let c = 0; c < out.chunks; c++) {
        assert.ok(out.chunkStats[2 * c] > 0, `chunk ${c}: loss sum ${out.chunkStats[2 * c]}`);
        correct += out.chunkStats[2 * c + 1];
      }
      assert.ok(correct > 0 && correct <= 300, `${correct} correct`);
      for (let p = 0; p < before.length; p++) {
        const step = (before[p] - ws.params.all[p]) / 0.5;
        assert.ok(
          Math.abs(step - want[p]) <= 1e-12 * Math.max(1, Math.abs(want[p])),
          `parameter ${p}: stepped along ${step}, the gradient is ${want[p]}`,
        );
      }
    });
  });

  it("a step without a learning rate leaves the parameters and sums the gradient in slot 0", async () => {
    await withEngine(200, 200, async (engine, ws) => {
      const before = Array.from(ws.params.all);
      const want = referenceGradient(ws, Array.from({ length: 200 }, (_, i) => i));
      await engine.step({
        batch: { begin: 0, end: 200, shuffled: false },
        order: null,
        epoch: 1,
        learningRate: null,
        step: 1,
      });
      assert.deepEqual(Array.from(ws.params.all), before);
      const sum = ws.partialSlots[0].all;
      for (let p = 0; p < want.length; p++) {
        assert.ok(Math.abs(sum[p] / 200 - want[p]) <= 1e-12 * Math.max(1, Math.abs(want[p])));
      }
    });
  });

  it("gathers shuffled batches through the order it is given, per epoch", async () => {
    await withEngine(250, 64, async (engine, ws) => {
      const order = Int32Array.from({ length: 250 }, (_, i) => 249 - i);
      const rows = Array.from(order.subarray(64, 128));
      const want = referenceGradient(ws, rows);
      const before = Float64Array.from(ws.params.all);
      await engine.step({
        batch: { begin: 64, end: 128, shuffled: true },
        order,
        epoch: 1,
        learningRate: 1,
        step: 1,
      });
      for (let p = 0; p < want.length; p++) {
        const step = before[p] - ws.params.all[p];
        assert.ok(Math.abs(step - want[p]) <= 1e-12 * Math.max(1, Math.abs(want[p])), `p ${p}`);
      }
    });
  });

  it("takes epochs of full and mini-batches to the local engine's bits", async () => {
    for (const [samples, batchSize] of [[300, 300], [300, 70]]) {
      const reference = await withLocal(samples, batchSize);
      const got = await withEngine(samples, batchSize, (engine, ws) => train(engine, ws, 3));
      assert.equal(got, reference, `${samples} rows, batches of ${batchSize}`);
    }
  });

  it("reports phase times per computing thread and closes more than once", async () => {
    await withEngine(100, 100, async (engine) => {
      await engine.step({
        batch: { begin: 0, end: 100, shuffled: false },
        order: null,
        epoch: 1,
        learningRate: 0.1,
        step: 1,
      });
      const phases = engine.phaseMs();
      assert.equal(phases.length, Math.max(1, engine.workers));
      for (const row of phases) assert.equal(row.length, 3);
      await engine.close();
    });
  });
}

/** The local engine's result for the same case: what every engine must reproduce. */
async function withLocal(samples: number, batchSize: number): Promise<string> {
  const { LocalEngine } = await import("../src/engines/local/local_engine.ts");
  const ws = contractWorkspace(samples, batchSize, 0);
  return train(new LocalEngine(jsKernels, ws), ws, 3);
}
