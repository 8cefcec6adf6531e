import { alignedBlocks } from "../../core/reduce_tree.ts";

/** A power-of-two-aligned block of a batch's chunks: the unit of work a worker process sums. */
export interface Block {
  readonly first: number;
  readonly span: number;
}

/** A worker process as the assignment sees it: its id and how many threads compute for it. */
export interface Member {
  readonly id: string;
  readonly threads: number;
}

/** Blocks per worker that the dealing aims at: enough to balance, few enough to stay O(P). */
const BLOCKS_PER_WORKER = 4;

/**
 * Deals the `count` chunks of a batch to `members` in contiguous shares proportional to their
 * threads, each share cut into aligned blocks (see `alignedBlocks`), so that every worker sends
 * one vector per block. Shares are cut at multiples of a power of two chosen from the count and
 * the workers alone, which keeps the blocks large: on average at most about four per worker.
 * Which worker sums which block does not change the result (the reduction tree is fixed by the
 * batch); the dealing only spreads the work.
 *
 * @example
 * ```ts
 * deal(64, [{ id: "a", threads: 1 }, { id: "b", threads: 1 }]);
 * // Map { "a" => [{ first: 0, span: 32 }], "b" => [{ first: 32, span: 32 }] }
 * ```
 */
export function deal(count: number, members: readonly Member[]): Map<string, Block[]> {
  const dealt = new Map<string, Block[]>();
  if (members.length === 0) return dealt;
  const weights = members.map((m) => Math.max(1, m.threads));
  const total = weights.reduce((a, b) => a + b, 0);
  let unit = 1;
  while (unit * 2 * BLOCKS_PER_WORKER * members.length <= count) unit *= 2;
  let cumulative = 0;
  let begin = 0;
  members.forEach((member, i) => {
    cumulative += weights[i];
    const cut = i === members.length - 1
      ? count
      : Math.min(count, Math.round((count * cumulative) / total / unit) * unit);
    const end = Math.max(begin, cut);
    dealt.set(member.id, alignedBlocks(begin, end, count));
    begin = end;
  });
  return dealt;
}
