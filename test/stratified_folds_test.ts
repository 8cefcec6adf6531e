import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { holdOutRows } from "../src/data/split.ts";
import { Rng } from "../src/rng.ts";
import { evaluationSplits, smallerClass, stratifiedFolds } from "../src/sweep/folds.ts";

/** `positives` ones and `negatives` zeros in a seeded random order. */
function labels(positives: number, negatives: number, seed: number): Float64Array {
  const y = new Float64Array(positives + negatives);
  y.fill(1, 0, positives);
  const order = Int32Array.from(y.keys());
  new Rng(seed, "test").shuffle(order);
  return Float64Array.from(order, (i) => y[i]);
}

describe("stratifiedFolds", () => {
  const cases = [[212, 357, 5], [5, 5, 2], [7, 30, 7], [50, 3, 3], [100, 101, 10]];
  for (const [positives, negatives, k] of cases) {
    it(`holds out every row once, with balanced classes (${positives}+${negatives}, k ${k})`, () => {
      const y = labels(positives, negatives, positives);
      const m = y.length;
      const folds = stratifiedFolds(y, k, 3);
      assert.equal(folds.length, k);
      const heldOut = new Int32Array(m);
      for (const { train, validation } of folds) {
        assert.equal(train.length + validation.length, m);
        const inFold = new Set(validation);
        for (const i of train) assert.ok(!inFold.has(i), `row ${i} both trains and validates`);
        for (let i = 1; i < train.length; i++) assert.ok(train[i] > train[i - 1]);
        for (let i = 1; i < validation.length; i++) assert.ok(validation[i] > validation[i - 1]);
        for (const i of validation) heldOut[i]++;
        const ones = validation.filter((i) => y[i] === 1).length;
        // Each class is dealt evenly: within one of its share, and never absent.
        assert.ok(Math.abs(ones - positives / k) < 1, `${ones} positives of ${positives} / ${k}`);
        const zeros = validation.length - ones;
        assert.ok(Math.abs(zeros - negatives / k) < 1, `${zeros} negatives of ${negatives} / ${k}`);
        assert.ok(ones > 0 && zeros > 0);
        assert.ok(Math.abs(validation.length - m / k) < 1, `fold of ${validation.length}`);
      }
      assert.ok(heldOut.every((n) => n === 1), "some row is held out other than once");
    });
  }

  it("draws the same folds from the same seed and other folds from another", () => {
    const y = labels(40, 60, 1);
    const a = stratifiedFolds(y, 4, 11);
    assert.deepEqual(stratifiedFolds(y, 4, 11), a);
    assert.notDeepEqual(stratifiedFolds(y, 4, 12), a);
  });

  it("needs from 2 folds to the smaller class's rows", () => {
    const y = labels(3, 10, 1);
    assert.equal(smallerClass(y), 3);
    assert.equal(stratifiedFolds(y, 3, 1).length, 3);
    assert.throws(() => stratifiedFolds(y, 4, 1), /4 folds: expected an integer from 2 to .* 3/);
    assert.throws(() => stratifiedFolds(y, 1, 1), RangeError);
    assert.throws(() => stratifiedFolds(y, 2.5, 1), RangeError);
  });
});

describe("evaluationSplits", () => {
  it("holds out the rows that the train command's --val-split holds out", () => {
    const y = labels(30, 70, 2);
    const [split] = evaluationSplits(y, { holdOut: 0.2, seed: 5 });
    assert.deepEqual(split, holdOutRows(100, 0.2, 5));
    assert.equal(split.validation.length, 20);
  });

  it("gives the stratified folds for a fold count", () => {
    const y = labels(30, 70, 2);
    assert.deepEqual(evaluationSplits(y, { folds: 5, seed: 5 }), stratifiedFolds(y, 5, 5));
  });
});
