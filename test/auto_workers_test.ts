import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { autoWorkers, type StepShape } from "../src/engines/auto_workers.ts";
import { chunkCount, chunkRowsFor } from "../src/core/shards.ts";
import { generate } from "../src/data/generators.ts";
import { train } from "../src/train/train.ts";
import { runCli } from "./run_cli.ts";

/** The shape of a full batch of `rows` rows, chunked as training chunks it. */
function shape(
  rows: number,
  features: number,
  hidden: number,
  rest: Partial<StepShape> = {},
): StepShape {
  return {
    batchRows: rows,
    chunks: chunkCount(rows, Math.min(chunkRowsFor(rows), rows)),
    features,
    hidden,
    dtype: "f32",
    backend: "blas",
    cpus: 2,
    ...rest,
  };
}

function bits(a: Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

describe("autoWorkers", () => {
  it("keeps small batches in the calling thread", () => {
    // Breast cancer in full batch, the default xor run, and a mini-batch of a larger set.
    assert.equal(autoWorkers(shape(569, 30, 16, { dtype: "f64" })).workers, 0);
    assert.equal(autoWorkers(shape(8192, 8, 32)).workers, 0);
    assert.equal(autoWorkers(shape(256, 256, 64, { backend: "wasm" })).workers, 0);
  });

  it("shares large batches among every CPU", () => {
    assert.equal(autoWorkers(shape(32768, 256, 64)).workers, 2);
    assert.equal(autoWorkers(shape(262144, 256, 64)).workers, 2);
    assert.equal(autoWorkers(shape(262144, 256, 64, { cpus: 8 })).workers, 8);
  });

  it("never picks more threads than CPUs or chunks, and says its pick", () => {
    const shapes = fc.record({
      batchRows: fc.integer({ min: 1, max: 1_000_000 }),
      features: fc.integer({ min: 1, max: 4096 }),
      hidden: fc.integer({ min: 1, max: 1024 }),
      dtype: fc.constantFrom("f32" as const, "f64" as const),
      backend: fc.constantFrom("js" as const, "wasm" as const, "blas" as const),
      cpus: fc.integer({ min: 1, max: 64 }),
    }).map((s) => ({ ...s, chunks: chunkCount(s.batchRows, chunkRowsFor(s.batchRows)) }));
    fc.assert(fc.property(shapes, (s) => {
      const { workers, note } = autoWorkers(s);
      assert.ok(workers >= 0 && workers <= Math.min(s.cpus, s.chunks), `${workers} workers`);
      assert.ok(workers !== 1, "one worker thread only adds synchronization to the same work");
      assert.match(note, new RegExp(`^workers auto: ${workers}[ ,]`));
      // A pure function of its inputs: the same shape, the same answer.
      assert.deepEqual(autoWorkers({ ...s }), { workers, note });
    }));
  });
});

describe("train with workers auto", () => {
  it("is the default and trains the bits of explicit worker counts", async () => {
    // Large enough that auto picks threads on a machine of two or more CPUs.
    const data = generate("xor", 16384, 64, 5);
    const options = { epochs: 2, hidden: 32, dtype: "f32" as const, backend: "wasm" as const };
    const notes: string[] = [];
    const auto = await train(data, { ...options, onNote: (n) => notes.push(n) });
    const picked = notes.find((n) => n.startsWith("workers auto: "));
    assert.ok(picked, notes.join("\n"));
    assert.match(picked, new RegExp(`^workers auto: ${auto.workers}[ ,]`));
    for (const workers of [0, 3]) {
      const explicit = await train(data, { ...options, workers });
      assert.equal(explicit.workers, workers);
      assert.equal(bits(auto.model.params), bits(explicit.model.params), `--workers ${workers}`);
    }
  });

  it("says its pick in one note on the command line", async () => {
    const r = await runCli("train", ["--data", "data/breast_cancer.csv", "--epochs", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^note: workers auto: 0, the calling thread \(a step of 569 rows/m);
    assert.equal(r.stderr.match(/workers auto/g)?.length, 1);
  });

  it("leaves --workers N exactly N", async () => {
    const data = generate("xor", 600, 3, 2);
    const notes: string[] = [];
    const r = await train(data, { epochs: 1, workers: 2, onNote: (n) => notes.push(n) });
    assert.equal(r.workers, 2);
    assert.equal(r.engine, "threads");
    assert.ok(!notes.some((n) => n.includes("auto")), notes.join("\n"));
  });
});
