import type { Floats } from "../dtype.ts";
import type { Kernels } from "../kernels/kernels.ts";

/**
 * Sums the chunk partials of a batch for parameters [p0, p1) in one fixed binary tree, in place:
 * at level s = 1, 2, 4, …, slot c += slot c + s for every c that is a multiple of 2s with
 * c + s < count. Slot 0 then holds the batch's sum.
 *
 * The tree depends on the chunk count alone, so every engine adds the same numbers in the same
 * order whoever computed which chunk. Its subtrees are the power-of-two-aligned blocks of chunks:
 * whoever computes a whole block can sum it and hand on one vector, and the rest of the tree
 * finishes the sum with the same bits. `given` describes such handed-on blocks: `given[c]` is the
 * span of a block whose sum already sits in slot c (1 for a single chunk), or 0 for a slot inside
 * a block, which holds nothing; without it every slot holds one chunk's partial.
 *
 * @example
 * ```ts
 * reduceTree(kernels, ws.partials, layout.partialStride, 5, 0, layout.paramCount);
 * // slot 0 = ((c0 + c1) + (c2 + c3)) + c4
 * ```
 */
export function reduceTree(
  k: Kernels,
  partials: Floats,
  stride: number,
  count: number,
  p0: number,
  p1: number,
  given?: ArrayLike<number>,
): void {
  if (!given) {
    k.reduceTree(partials, stride, count, p0, p1);
    return;
  }
  const len = p1 - p0;
  for (let s = 1; s < count; s *= 2) {
    for (let c = 0; c + s < count; c += 2 * s) {
      if (given[c] >= 1 && given[c] <= s) {
        k.accumulate(partials, c * stride + p0, partials, (c + s) * stride + p0, len);
      }
    }
  }
}

/**
 * The fewest subtrees of `reduceTree` over `count` chunks that cover chunks [first, end): blocks
 * whose first chunk is a multiple of their span (a power of two), clipped at the batch's end.
 * Whoever holds a block's chunks can sum it alone and hand on one vector.
 *
 * @example
 * ```ts
 * alignedBlocks(2, 7, 7); // [{ first: 2, span: 2 }, { first: 4, span: 4 }]
 * ```
 */
export function alignedBlocks(
  first: number,
  end: number,
  count: number,
): { first: number; span: number }[] {
  const blocks: { first: number; span: number }[] = [];
  for (let c = first; c < end;) {
    let span = 1;
    while (c % (2 * span) === 0 && c + span < count && Math.min(c + 2 * span, count) <= end) {
      span *= 2;
    }
    blocks.push({ first: c, span });
    c += span;
  }
  return blocks;
}
