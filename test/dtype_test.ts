import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { allFinite } from "../src/dtype.ts";

describe("allFinite", () => {
  for (const Type of [Float32Array, Float64Array]) {
    it(`tells finite ${Type.name}s from those with a NaN or an infinity anywhere`, () => {
      assert.equal(allFinite(new Type(0)), true);
      assert.equal(allFinite(Type.from([1, -0, -3.4e38, 1e-45, 0])), true);
      for (const bad of [Number.NaN, Infinity, -Infinity]) {
        for (const at of [0, 3, 6]) {
          const values = Type.from([1, 2, -3, 0, -0, 5, 6]);
          values[at] = bad;
          assert.equal(allFinite(values), false, `${bad} at ${at}`);
        }
      }
    });
  }
});
