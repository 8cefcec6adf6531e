import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readCsv } from "../src/data/csv.ts";
import { selectRows } from "../src/data/split.ts";
import { DataError } from "../src/errors.ts";
import { initModel } from "../src/model/model.ts";
import { evaluate } from "../src/model/predict.ts";
import { stratifiedFolds } from "../src/sweep/folds.ts";
import { rocAuc } from "../src/sweep/roc_auc.ts";
import { sweep, type SweepResult, type SweepRun } from "../src/sweep/sweep.ts";
import { checkToThread } from "../src/sweep/sweep_messages.ts";
import { paramsHash, runKernels, runSplit } from "../src/sweep/sweep_run.ts";
import { SweepThread } from "../src/sweep/sweep_thread.ts";
import { SweepThreads } from "../src/sweep/sweep_threads.ts";
import { train } from "../src/train/train.ts";

const data = readCsv("data/breast_cancer.csv");

/** Runs in grid order, whatever order they finished in. */
function inOrder(runs: readonly SweepRun[]): SweepRun[] {
  return [...runs].sort((a, b) => a.config - b.config || a.split - b.split);
}

/** The trained parameters' hashes of a sweep's runs, in grid order. */
function hashesOf(result: SweepResult): string[] {
  return inOrder(result.runs).map((run) => run.paramsHash);
}

describe("sweep", () => {
  it("trains each run bit-identically to train() on the fold's rows, on threads", async () => {
    const base = { epochs: 25, dtype: "f64" as const, hidden: 4 };
    const axes = { learningRate: [0.3, 1], batchSize: [64, 455], seed: [2] };
    const result = await sweep(data, {
      base,
      axes,
      evaluation: { folds: 3, seed: 4 },
      threads: 2,
    });
    assert.equal(result.complete, true);
    assert.equal(result.runs.length, 4 * 3);
    const folds = stratifiedFolds(data.y, 3, 4);
    for (const run of inOrder(result.runs)) {
      const { train: rows, validation } = folds[run.split];
      const alone = await train(selectRows(data, rows), { ...base, ...result.configs[run.config] });
      const label = `config ${run.config} fold ${run.split}`;
      assert.equal(run.paramsHash, paramsHash(alone.model.params), label);
      assert.equal(run.trainLoss, alone.history.at(-1)!.loss, label);
      const held = selectRows(data, validation);
      const evaluation = evaluate(alone.model, held);
      assert.equal(run.valLoss, evaluation.loss, label);
      assert.equal(run.valAccuracy, evaluation.accuracy, label);
      assert.equal(run.valAuc, rocAuc(evaluation.probabilities, held.y), label);
    }
  });

  it("gives the same runs on 0, 1 and 3 threads, ranked by mean validation loss", async () => {
    const options = {
      base: { epochs: 20, hidden: 3 },
      axes: { learningRate: [0.05, 0.5, 2], seed: [1, 2] },
      evaluation: { folds: 2, seed: 1 },
    };
    const results = await Promise.all(
      [0, 1, 3].map((threads) => sweep(data, { ...options, threads })),
    );
    const hashes = results.map(hashesOf);
    assert.deepEqual(hashes[1], hashes[0]);
    assert.deepEqual(hashes[2], hashes[0]);
    const withoutTimes = (r: (typeof results)[number]) => r.ranked.map(({ ms: _, ...s }) => s);
    assert.deepEqual(withoutTimes(results[2]), withoutTimes(results[0]));
    const { ranked, best } = results[0];
    assert.equal(ranked.length, 6);
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i].valLoss >= ranked[i - 1].valLoss);
    assert.equal(best, ranked[0]);
    const bestRuns = results[0].runs.filter((r) => r.config === best!.index);
    const mean = (bestRuns[0].valLoss + bestRuns[1].valLoss) / 2;
    assert.ok(Math.abs(best!.valLoss - mean) < 1e-15);
    assert.ok(
      Math.abs(best!.valLossSpread - Math.abs(bestRuns[0].valLoss - mean) * Math.SQRT2) < 1e-12,
    );
  });

  it("posts its threads the compiled kernels, and a thread refuses anything else", async () => {
    const wasm = await runKernels({ epochs: 1, backend: "wasm", kernelVariant: "plain" });
    assert.equal(wasm?.variant, "plain");
    assert.ok(wasm?.module instanceof WebAssembly.Module);
    assert.equal(await runKernels({ epochs: 1, backend: "js" }), null);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const init = { v: 1, type: "init", data, splits: [], base: {}, stop };
    for (const ok of [wasm, null]) assert.doesNotThrow(() => checkToThread({ ...init, wasm: ok }));
    for (
      const bad of [undefined, { variant: "plain", module: {} }, { ...wasm, variant: "fused" }]
    ) {
      assert.throws(() => checkToThread({ ...init, wasm: bad }), /malformed "init" message/);
    }
    // The stop word is one shared int: a copy would never be set.
    for (const bad of [undefined, new Int32Array(1), new Int32Array(new SharedArrayBuffer(8))]) {
      assert.throws(() => checkToThread({ ...init, wasm, stop: bad }), /malformed "init"/);
    }
  });

  it("answers runs asked of one thread at once in order, each as if trained alone", async () => {
    const splits = stratifiedFolds(data.y, 3, 2);
    const base = { epochs: 15, hidden: 5, optimizer: { kind: "adam" as const } };
    const configs = [{ learningRate: 0.01 }, { learningRate: 0.05, hidden: 9 }, { seed: 4 }];
    const thread = new SweepThread(0, () => {});
    try {
      await thread.init(
        data,
        splits,
        base,
        await runKernels(base),
        new Int32Array(new SharedArrayBuffer(4)),
      );
      const outcomes = await Promise.all(configs.map((config, i) => thread.run(config, i)));
      for (const [i, config] of configs.entries()) {
        const alone = await runSplit(data, splits[i], { ...base, ...config });
        assert.equal(outcomes[i].paramsHash, alone.paramsHash, `run ${i}`);
        assert.equal(outcomes[i].valLoss, alone.valLoss, `run ${i}`);
      }
    } finally {
      thread.terminate();
    }
  });

  it("evaluates each configuration on one held-out split", async () => {
    const result = await sweep(data, {
      base: { epochs: 5, hidden: 2 },
      axes: { seed: [1, 2] },
      evaluation: { holdOut: 0.25, seed: 3 },
      threads: 1,
    });
    assert.equal(result.runs.length, 2);
    assert.equal(result.splits[0].validation.length, Math.round(0.25 * data.samples));
    assert.ok(result.ranked.every((s) => s.runs === 1 && s.splits === 1 && s.valLossSpread === 0));
  });

  it("records a diverging run as diverged and ranks its configuration last", async () => {
    // Features of 1e150 overflow float64 within a few steps unless the rate is tiny.
    const huge = { ...data, x: data.x.map((v) => v * 1e150) };
    const result = await sweep(huge, {
      base: { epochs: 30, hidden: 4, standardize: "none", dtype: "f64" },
      axes: { learningRate: [1, 1e-300] },
      evaluation: { folds: 2, seed: 1 },
      threads: 2,
    });
    assert.equal(result.complete, true);
    const [first, last] = result.ranked;
    assert.equal(first.config.learningRate, 1e-300);
    assert.equal(first.diverged, undefined);
    assert.equal(last.config.learningRate, 1);
    assert.match(last.diverged ?? "", /diverged at epoch/);
    assert.equal(result.best, first);
  });

  it("stops when its signal is aborted, keeping the finished runs", async () => {
    const stop = new AbortController();
    const started = performance.now();
    const result = await sweep(data, {
      base: { epochs: 200, hidden: 8 },
      axes: { learningRate: [0.1, 0.2, 0.3, 0.4], seed: [1, 2, 3, 4, 5] },
      evaluation: { folds: 5, seed: 1 },
      threads: 2,
      signal: stop.signal,
      onRun: () => stop.abort(),
    });
    assert.equal(result.complete, false);
    // Runs in flight when the signal came end at their epoch's end, dropped; only a run done
    // before (its answer on its way) is kept besides the one that stopped it.
    assert.ok(result.runs.length >= 1 && result.runs.length <= 4, `${result.runs.length} runs`);
    assert.ok(performance.now() - started < 60_000);
    assert.equal(result.best, null);
    assert.ok(result.ranked.every((s) => s.runs < s.splits));
  });

  it("fails with the run's error, and ends its threads, when a run cannot train", async () => {
    await assert.rejects(
      sweep(data, {
        base: { epochs: 5, init: initModel(3, 2, 1) },
        axes: { seed: [1, 2, 3] },
        evaluation: { folds: 2, seed: 1 },
        threads: 2,
      }),
      (e: unknown) => e instanceof DataError && /3 features, the data set has 30/.test(e.message),
    );
  });

  it("trains sweep after sweep on kept threads, each run as on the main thread", async () => {
    const threads = new SweepThreads(2);
    try {
      // A second data set, other splits and options: a thread that kept the first sweep's
      // would train other runs.
      const small = selectRows(data, Array.from({ length: 300 }, (_, i) => i));
      const sweeps = [
        {
          rows: data,
          options: {
            base: { epochs: 15, hidden: 3 },
            axes: { learningRate: [0.1, 1], seed: [1, 2] },
            evaluation: { folds: 2, seed: 1 },
          },
        },
        {
          rows: small,
          options: {
            base: { epochs: 12, hidden: 5, dtype: "f64" as const },
            axes: { learningRate: [0.3, 0.6, 0.9] },
            evaluation: { folds: 3, seed: 2 },
          },
        },
      ];
      for (const { rows, options } of [...sweeps, sweeps[0]]) {
        const kept = await sweep(rows, { ...options, threads });
        const alone = await sweep(rows, { ...options, threads: 0 });
        assert.equal(kept.complete, true);
        assert.deepEqual(hashesOf(kept), hashesOf(alone));
      }
    } finally {
      threads.close();
    }
  });

  it("keeps its threads for the next sweep, and starts new ones for those ended", () => {
    const threads = new SweepThreads(2);
    try {
      const first = threads.acquire(2, () => {});
      assert.throws(() => threads.acquire(2, () => {}), /training another sweep/);
      threads.release(true);
      const second = threads.acquire(2, () => {});
      assert.deepEqual(second, first);
      second[1].terminate();
      threads.release(true);
      const third = threads.acquire(2, () => {});
      assert.equal(third[0], first[0]);
      assert.notEqual(third[1], first[1]);
      assert.ok(third.every((t) => t.usable));
      threads.release(false);
      assert.ok(third.every((t) => !t.usable));
      assert.equal(threads.acquire(1, () => {}).length, 1);
      threads.release(true);
    } finally {
      threads.close();
    }
    assert.throws(() => threads.acquire(2, () => {}), /closed/);
    assert.throws(() => new SweepThreads(0), RangeError);
  });

  it("trains on kept threads after a sweep on them was stopped", async () => {
    const threads = new SweepThreads(2);
    try {
      const options = {
        base: { epochs: 200, hidden: 8 },
        axes: { learningRate: [0.1, 0.2, 0.3, 0.4], seed: [1, 2, 3] },
        evaluation: { folds: 3, seed: 1 },
      };
      const stop = new AbortController();
      const stopped = await sweep(data, {
        ...options,
        threads,
        signal: stop.signal,
        onRun: () => stop.abort(),
      });
      assert.equal(stopped.complete, false);
      const small = { ...options, base: { epochs: 10, hidden: 3 } };
      const after = await sweep(data, { ...small, threads });
      const alone = await sweep(data, { ...small, threads: 0 });
      assert.equal(after.complete, true);
      assert.deepEqual(hashesOf(after), hashesOf(alone));
    } finally {
      threads.close();
    }
  });
});
