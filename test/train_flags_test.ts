import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatLoss } from "../src/cli/epoch_log.ts";
import { parseFlags } from "../src/cli/flags.ts";
import { TRAIN_FLAGS } from "../src/cli/train_command.ts";
import { UsageError } from "../src/errors.ts";

describe("--seed", () => {
  it("accepts exactly the integers from 0 to 2^53 − 1, each as itself", () => {
    const seed = fc.oneof(
      fc.double({ noNaN: true }),
      fc.integer({ min: -10, max: 10 }),
      fc.constantFrom(2 ** 53 - 1, 2 ** 53, 2 ** 32, 1e300, -0),
    );
    fc.assert(fc.property(seed, (value) => {
      const text = Object.is(value, -0) ? "-0" : String(value);
      const valid = Number.isSafeInteger(value) && value >= 0;
      try {
        const parsed = parseFlags(["--seed", text], TRAIN_FLAGS).seed as number;
        assert.ok(valid, `accepted ${text}`);
        assert.equal(parsed, value);
      } catch (e) {
        assert.ok(e instanceof UsageError, String(e));
        assert.ok(!valid, `refused ${text}: ${(e as Error).message}`);
      }
    }));
  });
});

describe("formatLoss", () => {
  it("prints six decimals, and exponent form for a huge loss", () => {
    assert.equal(formatLoss(0.5), "0.500000");
    assert.equal(formatLoss(14370001629470785536), "1.437000e+19");
  });
});
