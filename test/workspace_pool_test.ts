import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planWorkspace } from "../src/core/workspace.ts";
import { WorkspacePool } from "../src/core/workspace_pool.ts";
import { readCsv } from "../src/data/csv.ts";
import { selectRows } from "../src/data/split.ts";
import { DataError } from "../src/errors.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import { jsKernels } from "../src/kernels/js.ts";
import { train, type TrainOptions } from "../src/train/train.ts";

const data = readCsv("data/breast_cancer.csv");
const rows = selectRows(data, Array.from({ length: 400 }, (_, i) => i));

/** Everything a run computed that its result shows, times aside. */
function outcome(result: Awaited<ReturnType<typeof train>>) {
  return {
    params: [...result.model.params],
    history: result.history.map(({ ms: _, ...report }) => report),
    metrics: result.metrics,
  };
}

describe("WorkspacePool", () => {
  it("gives each run of a thread the bits it computes on a fresh workspace", async () => {
    // Stateful optimizers back to back on one memory (their state must start at zero again),
    // a larger layout before smaller ones (the memory is reused, larger than they need),
    // mini-batches (the order region), and backends whose kernels the pool keeps.
    const runs: TrainOptions[] = [
      { epochs: 8, hidden: 24, batchSize: 64, optimizer: { kind: "adam" }, learningRate: 0.01 },
      { epochs: 8, hidden: 6, optimizer: { kind: "sgd", momentum: 0.9 }, learningRate: 0.1 },
      { epochs: 8, hidden: 6, optimizer: { kind: "sgd", momentum: 0.9 }, learningRate: 0.1 },
      { epochs: 8, hidden: 6, batchSize: 100, dtype: "f64", optimizer: { kind: "adamw" } },
      { epochs: 8, hidden: 6, backend: "js", optimizer: { kind: "adam" }, learningRate: 0.01 },
      { epochs: 8, hidden: 6, backend: "wasm", seed: 3 },
    ];
    const pool = new WorkspacePool();
    for (const [i, options] of runs.entries()) {
      const fresh = await train(rows, { ...options, workers: 0 });
      const pooled = await train(rows, { ...options, workers: 0, workspacePool: pool });
      assert.deepEqual(outcome(pooled), outcome(fresh), `run ${i}`);
    }
  });

  it("lends its memory to one run at a time, zeroed, and takes it back after a failure", async () => {
    const pool = new WorkspacePool();
    const layout = planWorkspace({
      dtype: "f32",
      samples: 10,
      features: 3,
      hidden: 2,
      validationSamples: 0,
      batchSize: 10,
      threads: 1,
    });
    const lease = pool.lend(layout);
    assert.throws(() => pool.lend(layout), /one run at a time/);
    new Uint8Array(lease.memory.buffer).fill(7);
    let loads = 0;
    const load = (): Promise<Kernels> => {
      loads++;
      return Promise.resolve(jsKernels);
    };
    await lease.kernels("js f32", load);
    lease.release();
    lease.release();
    const again = pool.lend(layout);
    assert.equal(again.memory, lease.memory);
    assert.ok(new Uint8Array(again.memory.buffer).every((b) => b === 0));
    await again.kernels("js f32", load);
    assert.equal(loads, 1);
    again.release();

    // A run that fails after borrowing the memory gives it back.
    const resume = { epoch: 1, params: new Float64Array(3), shuffleState: [1, 2, 3, 4] };
    await assert.rejects(
      train(rows, { epochs: 2, hidden: 4, workers: 0, workspacePool: pool, resume }),
      DataError,
    );
    const result = await train(rows, { epochs: 2, hidden: 4, workers: 0, workspacePool: pool });
    assert.equal(result.history.length, 2);
  });
});
