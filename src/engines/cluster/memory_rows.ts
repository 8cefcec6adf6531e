import type { Floats } from "../../dtype.ts";
import type { Range } from "../../core/shards.ts";
import type { RowSource } from "./block_computer.ts";

/**
 * Rows held in memory as one array: the whole training set, or any rows fetched so far placed at
 * their own row numbers.
 *
 * @example
 * ```ts
 * const rows = new MemoryRows(x, y, features);
 * ```
 */
export class MemoryRows implements RowSource {
  readonly #x: Floats;
  readonly #y: Floats;
  readonly #n: number;

  constructor(x: Floats, y: Floats, features: number) {
    this.#x = x;
    this.#y = y;
    this.#n = features;
  }

  copyRows(
    range: Range,
    order: Int32Array | null,
    x: Floats,
    y: Floats,
    offset: number,
  ): Promise<void> {
    const n = this.#n;
    if (order === null) {
      x.set(this.#x.subarray(range.begin * n, range.end * n), offset * n);
      y.set(this.#y.subarray(range.begin, range.end), offset);
      return Promise.resolve();
    }
    for (let r = range.begin; r < range.end; r++) {
      const i = order[r];
      const to = offset + r - range.begin;
      x.set(this.#x.subarray(i * n, (i + 1) * n), to * n);
      y[to] = this.#y[i];
    }
    return Promise.resolve();
  }
}
