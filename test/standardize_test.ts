import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readCsv } from "../src/data/csv.ts";
import type { Dataset } from "../src/data/dataset.ts";
import { generate } from "../src/data/generators.ts";
import { applyStandardization, fitStandardization } from "../src/data/standardize.ts";

function dataset(rows: number[][]): Dataset {
  return {
    x: Float64Array.from(rows.flat()),
    y: Float64Array.from(rows, (_, i) => i % 2),
    samples: rows.length,
    features: rows[0].length,
    featureNames: rows[0].map((_, k) => `x${k}`),
  };
}

describe("fitStandardization", () => {
  it("gives the mean and the population std of each feature", () => {
    const stats = fitStandardization(dataset([[1, 10], [2, 10], [3, 10], [4, 10]]));
    assert.deepEqual(stats.mean, Float64Array.of(2.5, 10));
    assert.deepEqual(stats.std, Float64Array.of(Math.sqrt(1.25), 0));
  });

  it("matches NumPy's pairwise sums bit for bit on the breast-cancer data", () => {
    const path = fileURLToPath(new URL("../data/breast_cancer.csv", import.meta.url));
    const stats = fitStandardization(readCsv(path));
    // X.mean(axis=1) and X.std(axis=1) of the features × samples array, from NumPy 2.4; summing
    // the 569 rows in order gives different last bits for every one of these.
    const expected: [number, number, number][] = [
      [0, 14.127291739894552, 3.520950760711062],
      [3, 654.8891036906855, 351.60475406323],
      [13, 40.337079086116, 45.45101341563996],
      [29, 0.0839458172231986, 0.01804538930859499],
    ];
    for (const [k, mean, std] of expected) {
      assert.equal(stats.mean[k], mean, `mean of feature ${k}`);
      assert.equal(stats.std[k], std, `std of feature ${k}`);
    }
  });
});

describe("applyStandardization", () => {
  it("leaves each feature with mean 0 and std 1", () => {
    const data = generate("blobs", 1000, 5, 11);
    const scaled = applyStandardization(data, fitStandardization(data));
    const after = fitStandardization(scaled);
    for (let k = 0; k < 5; k++) {
      assert.ok(Math.abs(after.mean[k]) < 1e-12, `mean ${after.mean[k]}`);
      assert.ok(Math.abs(after.std[k] - 1) < 1e-12, `std ${after.std[k]}`);
    }
  });

  it("only centres a feature whose std is 0", () => {
    const stats = fitStandardization(dataset([[1, 5], [3, 5]]));
    const scaled = applyStandardization(dataset([[1, 5], [2, 7]]), stats);
    assert.deepEqual(scaled.x, Float64Array.of(-1, 0, 0, 2));
  });

  it("returns a new data set and leaves the input alone", () => {
    const data = dataset([[1, 2], [3, 6]]);
    const scaled = applyStandardization(data, fitStandardization(data));
    assert.deepEqual(data.x, Float64Array.of(1, 2, 3, 6));
    assert.notEqual(scaled.x, data.x);
    assert.equal(scaled.y, data.y);
    assert.deepEqual(scaled.featureNames, data.featureNames);
  });

  it("refuses statistics for another number of features", () => {
    const stats = fitStandardization(dataset([[1, 2, 3]]));
    assert.throws(() => applyStandardization(dataset([[1, 2]]), stats), RangeError);
  });
});
