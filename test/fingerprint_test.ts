import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { datasetFingerprint } from "../src/data/fingerprint.ts";
import { generate } from "../src/data/generators.ts";
import { Fnv1a64 } from "../src/hash.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** The reference definition, on BigInt: slow, but obviously FNV-1a. */
function fnv1a64Reference(bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, "0");
}

describe("Fnv1a64", () => {
  it("gives the published FNV-1a 64-bit test values", () => {
    assert.equal(new Fnv1a64().hex(), "cbf29ce484222325");
    assert.equal(new Fnv1a64().update(text("a")).hex(), "af63dc4c8601ec8c");
    assert.equal(new Fnv1a64().update(text("foobar")).hex(), "85944171f73967e8");
  });

  it("equals the BigInt definition for any bytes, fed in any pieces", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        const pieces = new Fnv1a64().update(bytes.subarray(0, at)).update(bytes.subarray(at));
        assert.equal(pieces.hex(), fnv1a64Reference(bytes));
      }),
    );
  });
});

describe("datasetFingerprint", () => {
  it("is the same for the same rows and changes with any value, label or the shape", () => {
    const data = generate("xor", 50, 4, 1);
    const base = datasetFingerprint(data);
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(datasetFingerprint(generate("xor", 50, 4, 1)), base);
    const x = Float64Array.from(data.x);
    x[123] = Math.fround(x[123]);
    assert.notEqual(datasetFingerprint({ ...data, x }), base, "one value rounded to float32");
    const y = Float64Array.from(data.y);
    y[7] = 1 - y[7];
    assert.notEqual(datasetFingerprint({ ...data, y }), base, "one label flipped");
    // The same numbers read as 100 rows of 2 features.
    assert.notEqual(datasetFingerprint({ ...data, samples: 100, features: 2 }), base);
  });
});
