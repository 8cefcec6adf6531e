import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../src/data/generators.ts";
import { findBlasLibrary } from "../src/kernels/blas.ts";
import { train } from "../src/train/train.ts";
import { runCli } from "./run_cli.ts";

const WORKER_COUNTS = [0, 1, 2, 3, 8];

/** Bit patterns, so that -0 ≠ 0 and NaN payloads count. */
function bits(a: Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

describe("sharded training is bit-identical to single-thread", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardnet-determinism-"));

  const CASES: [string, string[]][] = [
    [
      "the oracle case, full batch, f64",
      [
        ...["--data", "data/breast_cancer.csv", "--init", "test/oracle/breast_cancer_h8/init.json"],
        ...["--dtype", "f64", "--lr", "0.5", "--epochs", "20"],
      ],
    ],
    [
      "mini-batches with a last partial batch, f32",
      [
        ...["--data", "data/breast_cancer.csv", "--hidden", "12", "--batch-size", "100"],
        ...["--epochs", "6", "--dtype", "f32", "--seed", "5"],
      ],
    ],
    [
      "mini-batches of two chunks and a last one of one, f32",
      [
        ...["--data", "xor", "--samples", "2600", "--features", "6", "--batch-size", "1100"],
        ...["--hidden", "10", "--epochs", "4", "--dtype", "f32", "--seed", "3"],
      ],
    ],
  ];
  for (const [name, args] of CASES) {
    it(`--out files are byte-identical for --workers ${WORKER_COUNTS.join(", ")}: ${name}`, async () => {
      const files: string[] = [];
      for (const workers of WORKER_COUNTS) {
        const out = join(dir, `${name.length}-${workers}.json`);
        const r = await runCli("train", [
          ...args,
          "--workers",
          String(workers),
          "--out",
          out,
          "--log-format",
          "json",
        ]);
        assert.equal(r.code, 0, r.stderr);
        files.push(readFileSync(out, "utf8"));
      }
      for (let i = 1; i < files.length; i++) {
        assert.equal(files[i], files[0], `--workers ${WORKER_COUNTS[i]} differs from --workers 0`);
      }
    });
  }

  for (const backend of ["js", "wasm", "blas"] as const) {
    const skip = backend === "blas" && findBlasLibrary() === null
      ? "OpenBLAS is not installed"
      : false;
    it(`${backend}: uneven chunk counts, every worker count up to 8 (f32)`, { skip }, async () => {
      const data = generate("xor", 5003, 9, 11);
      const options = { epochs: 3, hidden: 24, dtype: "f32" as const, backend, seed: 2 };
      const reference = await train(data, { ...options, workers: 0 });
      for (const workers of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const sharded = await train(data, { ...options, workers });
        assert.equal(
          bits(sharded.model.params),
          bits(reference.model.params),
          `--workers ${workers}`,
        );
        assert.deepEqual(
          sharded.history.map((e) => e.loss),
          reference.history.map((e) => e.loss),
        );
      }
    });
  }

  it("holds over a thousand short steps, where workers wake late and skip steps", async () => {
    // Steps of one 64-row chunk take microseconds, so with 3 or 8 workers on few cores most
    // workers find a step finished, or the next one published, by the time they run: the stale
    // reads that the ticket protocol must make harmless.
    const data = generate("spirals", 2000, 3, 7);
    const options = {
      epochs: 30,
      hidden: 8,
      batchSize: 64,
      dtype: "f64" as const,
      backend: "js" as const,
      seed: 3,
    };
    const reference = await train(data, { ...options, workers: 0 });
    for (const workers of [3, 8]) {
      const sharded = await train(data, { ...options, workers });
      assert.equal(sharded.steps, 30 * 32);
      assert.equal(bits(sharded.model.params), bits(reference.model.params), `${workers} workers`);
      assert.deepEqual(
        sharded.history.map((e) => [e.loss, e.accuracy]),
        reference.history.map((e) => [e.loss, e.accuracy]),
      );
    }
  });

  it("holds with more workers than chunks", async () => {
    const data = generate("blobs", 40, 3, 4);
    const notes: string[] = [];
    const options = { epochs: 5, hidden: 4, dtype: "f64" as const, backend: "js" as const };
    const reference = await train(data, { ...options, workers: 0 });
    const sharded = await train(data, { ...options, workers: 8, onNote: (n) => notes.push(n) });
    assert.equal(bits(sharded.model.params), bits(reference.model.params));
    assert.match(
      notes.join("\n"),
      /8 workers but each batch has only 1 chunk .* at most 1 compute in a step/,
    );
  });
});
