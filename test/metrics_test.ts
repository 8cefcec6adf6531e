import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classificationMetrics } from "../src/model/metrics.ts";
import { Rng } from "../src/rng.ts";

const f64 = (values: number[]) => new Float64Array(values);

/** ROC AUC by definition: every (positive, negative) pair, 1 when ordered, ½ when tied. */
function pairwiseAuc(p: Float64Array, y: Float64Array): number {
  let sum = 0, pairs = 0;
  for (let i = 0; i < p.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < p.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      sum += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

describe("classificationMetrics", () => {
  it("counts the confusion matrix at p ≥ 0.5 and derives precision, recall, F1 and AUC", () => {
    const m = classificationMetrics(
      f64([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]),
      f64([1, 1, 0, 1, 0, 1, 0, 0]),
    );
    assert.deepEqual(m.confusion, { tp: 3, fp: 1, tn: 3, fn: 1 });
    assert.equal(m.rows, 8);
    assert.equal(m.accuracy, 0.75);
    assert.equal(m.precision, 0.75);
    assert.equal(m.recall, 0.75);
    assert.equal(m.f1, 0.75);
    // Positives 0.9, 0.8, 0.6, 0.3 beat 4, 4, 3 and 2 of the 4 negatives.
    assert.equal(m.rocAuc, 13 / 16);
    assert.deepEqual(m.undefinedBecause, {});
  });

  it("counts ties in AUC one half, and a probability of exactly 0.5 as class 1", () => {
    const m = classificationMetrics(f64([0.5, 0.5, 0.5, 0.2, 0.8]), f64([1, 0, 0, 1, 1]));
    assert.deepEqual(m.confusion, { tp: 2, fp: 2, tn: 0, fn: 1 });
    assert.equal(m.precision, 0.5);
    assert.equal(m.recall, 2 / 3);
    assert.equal(m.f1, 4 / 7);
    assert.equal(m.accuracy, 0.4);
    // 0.5 ties both negatives (½ + ½), 0.2 beats none, 0.8 beats both: 3 of 6 pairs.
    assert.equal(m.rocAuc, 0.5);
    const allTied = classificationMetrics(f64([0.3, 0.3, 0.3, 0.3]), f64([1, 0, 1, 0]));
    assert.equal(allTied.rocAuc, 0.5);
  });

  it("gives AUC 1 for a perfect ranking and 0 for a reversed one, whatever the threshold", () => {
    const y = f64([0, 0, 1, 1]);
    assert.equal(classificationMetrics(f64([0.01, 0.02, 0.03, 0.04]), y).rocAuc, 1);
    assert.equal(classificationMetrics(f64([0.99, 0.98, 0.97, 0.96]), y).rocAuc, 0);
  });

  it("agrees exactly with the pairwise definition on rows full of ties", () => {
    const rng = new Rng(11, "metrics");
    for (const rows of [2, 7, 50, 333]) {
      const p = new Float64Array(rows);
      const y = new Float64Array(rows);
      for (let i = 0; i < rows; i++) {
        p[i] = Math.round(rng.uniform() * 10) / 10;
        y[i] = i < 2 ? i : rng.uniform() < 0.4 ? 1 : 0;
      }
      const before = p.slice();
      assert.equal(classificationMetrics(p, y).rocAuc, pairwiseAuc(p, y), `${rows} rows`);
      assert.deepEqual(p, before, "the probabilities are not reordered");
    }
  });

  it("reports AUC as undefined, with the reason, when the rows hold one class", () => {
    const positives = classificationMetrics(f64([0.9, 0.2]), f64([1, 1]));
    assert.equal(positives.rocAuc, null);
    assert.equal(
      positives.undefinedBecause.rocAuc,
      "only label 1 among the rows: ROC AUC needs both classes",
    );
    assert.equal(positives.precision, 1);
    assert.equal(positives.recall, 0.5);

    const negatives = classificationMetrics(f64([0.1, 0.2]), f64([0, 0]));
    assert.equal(negatives.accuracy, 1);
    assert.deepEqual(
      [negatives.precision, negatives.recall, negatives.f1, negatives.rocAuc],
      [null, null, null, null],
    );
    assert.deepEqual(negatives.undefinedBecause, {
      precision: "no row is predicted 1",
      recall: "no row has label 1",
      f1: "no row has label 1 or is predicted 1",
      rocAuc: "only label 0 among the rows: ROC AUC needs both classes",
    });
  });

  it("gives F1 = 0, not undefined, when there are positives but no true positive", () => {
    const m = classificationMetrics(f64([0.1, 0.9]), f64([1, 0]));
    assert.equal(m.precision, 0);
    assert.equal(m.recall, 0);
    assert.equal(m.f1, 0);
  });

  it("refuses labels other than 0/1, NaN probabilities, no rows and mismatched lengths", () => {
    assert.throws(() => classificationMetrics(f64([0.5]), f64([2])), /label of row 0 is 2/);
    assert.throws(() => classificationMetrics(f64([NaN]), f64([1])), /probability of row 0 is NaN/);
    assert.throws(() => classificationMetrics(f64([]), f64([])), /no rows/);
    assert.throws(() => classificationMetrics(f64([0.5]), f64([1, 0])), /1 probabilities for 2/);
  });
});
