import type { Floats } from "../../dtype.ts";
import type { Range } from "../../core/shards.ts";
import type { RowSource } from "./block_computer.ts";
import type { DatasetPieces } from "./dataset_store.ts";
import { MemoryRows } from "./memory_rows.ts";

/**
 * Training rows of a published data set as a worker fetches them: in full batch only the pieces
 * of the rows it is dealt (kept in memory once fetched); with a shuffled order, the whole set,
 * fetched once and checked against its fingerprint.
 */
export class PieceRows implements RowSource {
  readonly #pieces: DatasetPieces;
  #all: Promise<MemoryRows> | null = null;
  /** Milliseconds spent waiting for pieces, since the last `takeDataMs`. */
  #dataMs = 0;

  constructor(pieces: DatasetPieces) {
    this.#pieces = pieces;
  }

  async copyRows(
    range: Range,
    order: Int32Array | null,
    x: Floats,
    y: Floats,
    offset: number,
  ): Promise<void> {
    const t0 = performance.now();
    try {
      if (order !== null) {
        if (this.#all === null) {
          const all = this.#pieces.all().then((d) => new MemoryRows(d.x, d.y, d.features));
          this.#all = all;
          // A fetch that failed is tried again by the next step, not remembered as failed.
          all.catch(() => {
            if (this.#all === all) this.#all = null;
          });
        }
        return await (await this.#all).copyRows(range, order, x, y, offset);
      }
      const n = this.#pieces.manifest.features;
      for (let row = range.begin; row < range.end;) {
        const piece = await this.#pieces.piece(this.#pieces.pieceOf(row));
        const end = Math.min(range.end, piece.firstRow + piece.rows);
        const from = row - piece.firstRow;
        const to = offset + row - range.begin;
        x.set(piece.x.subarray(from * n, (end - piece.firstRow) * n), to * n);
        y.set(piece.y.subarray(from, end - piece.firstRow), to);
        row = end;
      }
    } finally {
      this.#dataMs += performance.now() - t0;
    }
  }

  /** The time spent waiting for data since the last call. */
  takeDataMs(): number {
    const ms = this.#dataMs;
    this.#dataMs = 0;
    return ms;
  }
}
