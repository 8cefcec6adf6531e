import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { alignedBlocks, reduceTree } from "../src/core/reduce_tree.ts";
import { jsKernels } from "../src/kernels/js.ts";

/** The tree written as its definition: a batch's sum is the sum of its two halves' sums. */
function treeSum(values: Float32Array[], lo: number, span: number): number[] {
  const end = Math.min(lo + span, values.length);
  if (span === 1 || end - lo === 1) return Array.from(values[lo]);
  const half = span / 2;
  const left = treeSum(values, lo, half);
  if (lo + half >= end) return left;
  const right = treeSum(values, lo + half, half);
  return Array.from(Float32Array.from(left.map((v, i) => v + right[i])));
}

function topSpan(count: number): number {
  let span = 1;
  while (span < count) span *= 2;
  return span;
}

/** Partials of `count` chunks laid out `stride` values apart, as in a workspace. */
function partials(count: number, stride: number, seed: number): Float32Array {
  const out = new Float32Array(count * stride);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Values of mixed magnitude, so that a different order of additions gives different bits.
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 10 ** ((s % 7) - 3);
  }
  return out;
}

const slot = (p: Float32Array, c: number, stride: number, len: number) =>
  p.subarray(c * stride, c * stride + len);

describe("reduceTree", () => {
  it("sums the chunks in the pairwise tree of its definition, bit for bit", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 80 }), fc.nat(1000), (count, seed) => {
      const len = 5, stride = 8;
      const p = partials(count, stride, seed);
      const chunks = Array.from({ length: count }, (_, c) => slot(p, c, stride, len).slice());
      const want = treeSum(chunks, 0, topSpan(count));
      reduceTree(jsKernels, p, stride, count, 0, len);
      assert.deepEqual(Array.from(slot(p, 0, stride, len)), want);
    }));
  });

  it("is not the sequential sum: the order is the tree's", () => {
    const len = 1, stride = 1;
    const p = Float32Array.from([1e8, 1, -1e8, 1]);
    const sequential = Math.fround(Math.fround(Math.fround(1e8 + 1) - 1e8) + 1);
    reduceTree(jsKernels, p, stride, 4, 0, len);
    // (1e8 + 1) + (−1e8 + 1): each pair rounds to ±1e8 in float32.
    assert.equal(p[0], 0);
    assert.notEqual(p[0], sequential);
  });

  it("touches only parameters [p0, p1)", () => {
    const stride = 10;
    const p = partials(6, stride, 3);
    const before = p.slice();
    reduceTree(jsKernels, p, stride, 6, 2, 7);
    for (let c = 0; c < 6; c++) {
      for (let i = 0; i < stride; i++) {
        if (i >= 2 && i < 7) continue;
        assert.ok(Object.is(p[c * stride + i], before[c * stride + i]), `slot ${c}[${i}] moved`);
      }
    }
  });

  it("finishes blocks summed elsewhere with the same bits, however the chunks are dealt", () => {
    const arbitrary = fc.integer({ min: 2, max: 70 }).chain((count) =>
      fc.tuple(
        fc.constant(count),
        fc.uniqueArray(fc.integer({ min: 1, max: count - 1 }), { maxLength: 6 }),
        fc.nat(1000),
      )
    );
    fc.assert(fc.property(arbitrary, ([count, cuts, seed]) => {
      const len = 3, stride = 4;
      const whole = partials(count, stride, seed);
      const coordinator = whole.slice();
      reduceTree(jsKernels, whole, stride, count, 0, len);

      // Contiguous shares cut at arbitrary chunks, each dealt as its aligned blocks; each block
      // is summed on its own, as a worker would, and handed on into its first slot.
      const bounds = [0, ...[...cuts].sort((a, b) => a - b), count];
      const given = new Int32Array(count);
      for (let s = 0; s + 1 < bounds.length; s++) {
        for (const { first, span } of alignedBlocks(bounds[s], bounds[s + 1], count)) {
          const held = Math.min(span, count - first);
          const local = coordinator.slice(first * stride, (first + held) * stride);
          reduceTree(jsKernels, local, stride, held, 0, len);
          coordinator.set(local.subarray(0, len), first * stride);
          given[first] = span;
        }
      }
      reduceTree(jsKernels, coordinator, stride, count, 0, len, given);
      assert.deepEqual(
        Array.from(slot(coordinator, 0, stride, len)),
        Array.from(slot(whole, 0, stride, len)),
      );
    }));
  });
});

describe("alignedBlocks", () => {
  it("covers [first, end) once, each block aligned to its power-of-two span", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 300 }).chain((count) =>
        fc.tuple(fc.constant(count), fc.nat(count - 1), fc.nat(count - 1))
      ),
      ([count, a, b]) => {
        const first = Math.min(a, b), end = Math.max(a, b) + 1;
        let next = first;
        for (const block of alignedBlocks(first, end, count)) {
          assert.equal(block.first, next);
          assert.equal(block.span & (block.span - 1), 0, `span ${block.span}`);
          assert.equal(block.first % block.span, 0, `block ${block.first}+${block.span}`);
          next = Math.min(block.first + block.span, count);
        }
        assert.equal(next, end);
      },
    ));
  });

  it("takes the clipped last block whole", () => {
    assert.deepEqual(alignedBlocks(2, 7, 7), [{ first: 2, span: 2 }, { first: 4, span: 4 }]);
    assert.deepEqual(alignedBlocks(0, 64, 64), [{ first: 0, span: 64 }]);
  });
});
