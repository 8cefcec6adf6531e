import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MemoryLimitError } from "../src/errors.ts";
import { paramCount } from "../src/model/params.ts";
import { planRunMemory } from "../src/core/memory_plan.ts";

describe("planRunMemory", () => {
  const host = 16 * 2 ** 30;

  it("refuses a shape exactly when its parts exceed the limits, naming the largest", () => {
    const shape = fc.record({
      dtype: fc.constantFrom("f32" as const, "f64" as const),
      samples: fc.integer({ min: 2, max: 2 ** 31 }),
      features: fc.integer({ min: 1, max: 2 ** 20 }),
      hidden: fc.integer({ min: 1, max: 2 ** 24 }),
      validationSamples: fc.integer({ min: 0, max: 2 ** 24 }),
      workers: fc.integer({ min: 0, max: 256 }),
      standardize: fc.boolean(),
      batchFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(shape, ({ batchFraction, ...s }) => {
        const batchSize = Math.max(1, Math.round(batchFraction * s.samples));
        const width = s.dtype === "f32" ? 4 : 8;
        const rows = s.samples + s.validationSamples;
        const dataBytes = rows * (s.features + 1) * width;
        try {
          const layout = planRunMemory({ ...s, batchSize }, host);
          assert.ok(layout.bytes <= 2 ** 32);
          assert.ok(dataBytes <= 2 ** 32, "data alone over the shared limit was accepted");
          assert.equal(layout.paramCount, paramCount(s.features, s.hidden));
        } catch (e) {
          assert.ok(e instanceof MemoryLimitError, String(e));
          assert.match(
            e.message,
            /needs .*(the data|the parameters|the partial gradients|the per-thread scratch|the worker threads) .*: use /,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it("names the partial gradients for 32768 × 1024 f32 with 16384 hidden units", () => {
    assert.throws(
      () =>
        planRunMemory({
          dtype: "f32",
          samples: 32768,
          features: 1024,
          hidden: 16384,
          validationSamples: 0,
          batchSize: 32768,
          workers: 2,
          standardize: true,
        }, host),
      /the largest part is the partial gradients \(64 chunks × 16809985 parameters × 4 bytes: 4\.0 GiB\)/,
    );
  });

  it("names the worker threads when they exceed the machine", () => {
    assert.throws(
      () =>
        planRunMemory({
          dtype: "f32",
          samples: 1000,
          features: 2,
          hidden: 2,
          validationSamples: 0,
          batchSize: 1000,
          workers: 256,
          standardize: true,
        }, 2 ** 30),
      (e: Error) =>
        e instanceof MemoryLimitError &&
        /the largest part is the worker threads \(256 × 16\.0 MiB: 4\.0 GiB\).*: use fewer workers$/
          .test(e.message) &&
        /use fewer --workers$/.test(e.render((name) => `--${name}`)),
    );
  });
});
