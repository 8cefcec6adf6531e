import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/rng.ts";
import { rocAuc } from "../src/sweep/roc_auc.ts";

/** The definition: over all (positive, negative) pairs, 1 when the positive scores higher, ½ tied. */
function pairwiseAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] === 1) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe("rocAuc", () => {
  it("is 1 for a perfect ranking, 0 for a reversed one and ½ for constant scores", () => {
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.equal(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
    assert.equal(rocAuc([0.5, 0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1, 1]), 0.5);
  });

  it("counts a tie between a positive and a negative as one half", () => {
    // Pairs: (0.4 vs 0.1) 1, (0.4 vs 0.4) ½, (0.9 vs both) 2 → 3.5 of 4.
    assert.equal(rocAuc([0.1, 0.4, 0.4, 0.9], [0, 0, 1, 1]), 3.5 / 4);
  });

  it("agrees with the pairwise definition on random scores with many ties", () => {
    const rng = new Rng(9, "auc");
    for (let trial = 0; trial < 200; trial++) {
      const m = 2 + rng.below(60);
      const levels = 1 + rng.below(8);
      const scores = Array.from({ length: m }, () => rng.below(levels) / levels);
      const labels = Array.from({ length: m }, () => rng.below(2));
      labels[0] = 0;
      labels[1] = 1;
      const expected = pairwiseAuc(scores, labels);
      assert.ok(Math.abs(rocAuc(scores, labels) - expected) < 1e-12, `trial ${trial}`);
    }
  });

  it("is NaN when a class is absent", () => {
    assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [1, 1])));
    assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [0, 0])));
  });
});
