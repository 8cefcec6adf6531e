import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Dataset } from "../src/data/dataset.ts";
import { selectRows, splitValidation } from "../src/data/split.ts";
import { UsageError } from "../src/errors.ts";

/** Rows whose features are (i, −i), so that each row shows where it came from. */
function numbered(samples: number): Dataset {
  const x = new Float64Array(samples * 2);
  for (let i = 0; i < samples; i++) x.set([i, -i], i * 2);
  return {
    x,
    y: Float64Array.from({ length: samples }, (_, i) => i % 2),
    samples,
    features: 2,
    featureNames: ["a", "b"],
  };
}

/** The original row numbers of a set made from `numbered`, checking each row is intact. */
function rowsOf(data: Dataset): number[] {
  return Array.from({ length: data.samples }, (_, r) => {
    const i = data.x[r * 2];
    assert.equal(data.x[r * 2 + 1], -i);
    assert.equal(data.y[r], i % 2);
    return i;
  });
}

function assertUsage(fn: () => unknown, part: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `${e}`);
    assert.ok(e.message.includes("`valSplit`"), e.message);
    assert.ok(e.message.includes(part), e.message);
    return true;
  });
}

describe("splitValidation", () => {
  it("returns the data itself and no validation set for a fraction of 0", () => {
    const data = numbered(10);
    const { train, validation } = splitValidation(data, 0, 1);
    assert.equal(train, data);
    assert.equal(validation, null);
  });

  it("holds out round(fraction · m) rows; the parts are disjoint, cover, and keep their order", () => {
    for (const [samples, fraction, held] of [[10, 0.3, 3], [569, 0.2, 114], [7, 0.5, 4]]) {
      const { train, validation } = splitValidation(numbered(samples), fraction, 5);
      assert.ok(validation !== null);
      assert.equal(validation.samples, held);
      assert.equal(train.samples, samples - held);
      assert.deepEqual(train.featureNames, ["a", "b"]);
      const t = rowsOf(train);
      const v = rowsOf(validation);
      assert.deepEqual(
        [...t, ...v].sort((a, b) => a - b),
        Array.from({ length: samples }, (_, i) => i),
      );
      for (const part of [t, v]) assert.ok(part.every((r, i) => i === 0 || r > part[i - 1]));
    }
  });

  it("is the same for the same seed and differs for another", () => {
    const data = numbered(100);
    const held = (seed: number) => rowsOf(splitValidation(data, 0.25, seed).validation!);
    assert.deepEqual(held(3), held(3));
    assert.notDeepEqual(held(3), held(4));
  });

  it("rejects fractions outside [0, 1)", () => {
    for (const fraction of [-0.1, 1, 1.5, NaN]) {
      assertUsage(() => splitValidation(numbered(10), fraction, 0), "less than 1");
    }
  });

  it("rejects a split that holds out nothing or leaves nothing to train on", () => {
    assertUsage(() => splitValidation(numbered(10), 0.01, 0), "holds out none");
    assertUsage(() => splitValidation(numbered(10), 0.99, 0), "leaves none for training");
  });
});

describe("selectRows", () => {
  it("copies the given rows in the given order", () => {
    const picked = selectRows(numbered(5), [4, 0, 4]);
    assert.deepEqual(rowsOf(picked), [4, 0, 4]);
    assert.equal(picked.features, 2);
  });

  it("refuses a row that is not there", () => {
    assert.throws(() => selectRows(numbered(5), [5]), RangeError);
    assert.throws(() => selectRows(numbered(5), [-1]), RangeError);
  });
});
