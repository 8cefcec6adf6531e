import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generate, GENERATOR_KINDS } from "../src/data/generators.ts";
import { UsageError } from "../src/errors.ts";

describe("generate", () => {
  for (const kind of GENERATOR_KINDS) {
    describe(kind, () => {
      it("has the requested shape, names and balanced 0/1 labels", () => {
        const data = generate(kind, 101, 3, 7);
        assert.equal(data.samples, 101);
        assert.equal(data.features, 3);
        assert.equal(data.x.length, 303);
        assert.equal(data.y.length, 101);
        assert.deepEqual(data.featureNames, ["x0", "x1", "x2"]);
        assert.ok(data.x.every(Number.isFinite));
        assert.ok(data.y.every((v) => v === 0 || v === 1));
        assert.equal(data.y.filter((v) => v === 1).length, 50);
      });

      it("shuffles the classes together", () => {
        const { y } = generate(kind, 100, 2, 7);
        const sorted = y.every((v, i) => i === 0 || v >= y[i - 1]);
        assert.ok(!sorted, "all 0s come before all 1s");
      });

      it("is the same for the same seed and differs for another", () => {
        assert.deepEqual(generate(kind, 50, 4, 1), generate(kind, 50, 4, 1));
        assert.notDeepEqual(generate(kind, 50, 4, 1).x, generate(kind, 50, 4, 2).x);
      });

      it("makes two samples, one of each class", () => {
        const data = generate(kind, 2, 2, 0);
        assert.deepEqual([...data.y].sort(), [0, 1]);
      });
    });
  }

  it("labels xor by the sign of x0·x1, with every feature in [-1, 1]", () => {
    const { x, y, samples } = generate("xor", 500, 4, 3);
    for (let i = 0; i < samples; i++) assert.equal(y[i], x[i * 4] * x[i * 4 + 1] > 0 ? 1 : 0);
    assert.ok(x.every((v) => v >= -1 && v <= 1));
  });

  it("puts label 1 of circles on the inner ring", () => {
    const { x, y, samples } = generate("circles", 500, 2, 3);
    const radius = [0, 0];
    for (let i = 0; i < samples; i++) radius[y[i]] += Math.hypot(x[i * 2], x[i * 2 + 1]) / 250;
    assert.ok(Math.abs(radius[1] - 0.5) < 0.05 && Math.abs(radius[0] - 1) < 0.05, `${radius}`);
  });

  it("separates the blobs' means in every feature", () => {
    const features = 6;
    const { x, y, samples } = generate("blobs", 2000, features, 3);
    for (let k = 0; k < features; k++) {
      const mean = [0, 0];
      for (let i = 0; i < samples; i++) mean[y[i]] += x[i * features + k] / 1000;
      assert.ok(mean[1] - mean[0] > 0.5, `feature ${k}: ${mean}`);
    }
  });

  it("rejects too few samples (one class) or features, naming the option", () => {
    for (const samples of [1, 0, -1, 1.5, NaN]) {
      assert.throws(() => generate("xor", samples, 2, 0), (e: unknown) => {
        assert.ok(e instanceof UsageError && e.message.startsWith("samples: expected"));
        return true;
      });
    }
    for (const features of [1, 0, 2.5]) {
      assert.throws(() => generate("blobs", 10, features, 0), (e: unknown) => {
        assert.ok(e instanceof UsageError && e.message.startsWith("features: expected"));
        return true;
      });
    }
  });
});
