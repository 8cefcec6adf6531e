import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readCsv } from "../src/data/csv.ts";
import type { Dtype } from "../src/dtype.ts";
import { modelFromJson } from "../src/model/model_file.ts";
import { modelViews } from "../src/model/model.ts";
import { findBlasLibrary } from "../src/kernels/blas.ts";
import type { BackendName } from "../src/kernels/select.ts";
import { train, type TrainResult } from "../src/train/train.ts";

const CASE = new URL("./oracle/breast_cancer_h8/", import.meta.url);
const DATA = new URL("../data/breast_cancer.csv", import.meta.url);

interface Expected {
  losses: number[];
  accuracies: number[];
  final: { W1: number[][]; b1: number[]; W2: number[]; b2: number };
}

const expected: Expected = JSON.parse(readFileSync(new URL("expected.json", CASE), "utf8"));
const initPath = new URL("init.json", CASE);
const init = modelFromJson(readFileSync(initPath, "utf8"), initPath.pathname);
const data = readCsv(DATA.pathname);

const BACKENDS: BackendName[] = ["js", "wasm", "blas"];
const NO_BLAS = findBlasLibrary() === null ? "OpenBLAS is not installed" : false;

/** The oracle's run: full batch, z-score, h = 8, lr = 0.5, 20 epochs. */
function runOracleCase(backend: BackendName, dtype: Dtype, workers: number): Promise<TrainResult> {
  return train(data, {
    epochs: expected.losses.length,
    learningRate: 0.5,
    dtype,
    workers,
    backend,
    standardize: "zscore",
    init,
  });
}

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe("oracle breast_cancer_h8", () => {
  for (const backend of BACKENDS) {
    for (const workers of [0, 1, 2, 3, 8]) {
      const skip = backend === "blas" ? NO_BLAS : false;
      it(
        `${backend} f64 --workers ${workers}: losses within 1e-10 relative, parameters within 1e-9`,
        { skip },
        async () => {
          const result = await runOracleCase(backend, "f64", workers);
          result.history.forEach((epoch, e) => {
            assert.ok(
              relative(epoch.loss, expected.losses[e]) < 1e-10,
              `epoch ${e + 1}: loss ${epoch.loss}, oracle ${expected.losses[e]}`,
            );
            assert.equal(epoch.accuracy, expected.accuracies[e], `epoch ${e + 1} accuracy`);
          });
          const p = modelViews(result.model);
          const f = expected.final;
          const check = (name: string, got: number, want: number) =>
            assert.ok(Math.abs(got - want) < 1e-9, `${name}: ${got}, oracle ${want}`);
          f.W1.forEach((row, j) =>
            row.forEach((w, k) => check(`W1[${j}][${k}]`, p.w1[j * init.features + k], w))
          );
          f.b1.forEach((b, j) => check(`b1[${j}]`, p.b1[j], b));
          f.W2.forEach((w, j) => check(`W2[${j}]`, p.w2[j], w));
          check("b2", p.b2[0], f.b2);
        },
      );
    }
  }

  for (const backend of BACKENDS) {
    const skip = backend === "blas" ? NO_BLAS : false;
    it(`${backend} f32: every loss within 1e-4 relative`, { skip }, async () => {
      const result = await runOracleCase(backend, "f32", 0);
      result.history.forEach((epoch, e) => {
        assert.ok(
          relative(epoch.loss, expected.losses[e]) < 1e-4,
          `epoch ${e + 1}: loss ${epoch.loss}, oracle ${expected.losses[e]}`,
        );
      });
    });
  }
});
