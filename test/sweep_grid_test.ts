import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { expandGrid, gridSize } from "../src/sweep/grid.ts";

describe("expandGrid", () => {
  it("gives every combination once, the first axis varying slowest", () => {
    const grid = expandGrid({ learningRate: [0.1, 0.5], hidden: [8, 16, 32], seed: [7] });
    assert.deepEqual(grid, [
      { learningRate: 0.1, hidden: 8, seed: 7 },
      { learningRate: 0.1, hidden: 16, seed: 7 },
      { learningRate: 0.1, hidden: 32, seed: 7 },
      { learningRate: 0.5, hidden: 8, seed: 7 },
      { learningRate: 0.5, hidden: 16, seed: 7 },
      { learningRate: 0.5, hidden: 32, seed: 7 },
    ]);
  });

  it("has as many configurations as gridSize says, each distinct", () => {
    const axes = { learningRate: [1, 2, 3], hidden: [4, 5], batchSize: [6, 7], seed: [8, 9, 10] };
    const grid = expandGrid(axes);
    assert.equal(grid.length, gridSize(axes));
    assert.equal(grid.length, 36);
    assert.equal(new Set(grid.map((c) => JSON.stringify(c))).size, 36);
  });

  it("varies string-valued options too", () => {
    assert.deepEqual(expandGrid({ dtype: ["f32", "f64"] }), [{ dtype: "f32" }, { dtype: "f64" }]);
  });

  it("is one empty configuration without axes", () => {
    assert.deepEqual(expandGrid({}), [{}]);
    assert.equal(gridSize({}), 1);
  });

  it("rejects an axis without values and a value given twice", () => {
    assert.throws(() => expandGrid({ learningRate: [0.1], hidden: [] }), /hidden: no values/);
    assert.throws(() => expandGrid({ seed: [1, 2, 1] }), /seed: 1 is given twice/);
  });

  it("counts a grid too large to expand without expanding it", () => {
    const huge = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.equal(gridSize({ hidden: huge, seed: huge, batchSize: huge }), 1e9);
  });
});
