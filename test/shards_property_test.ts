import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  batchRanges,
  chunkCount,
  chunkRowsFor,
  MIN_CHUNK_ROWS,
  paramSlice,
  type Range,
  share,
} from "../src/core/shards.ts";

/** Asserts that `ranges`, in order, tile [0, size) with no gap and no overlap. */
function assertTiles(ranges: readonly Range[], size: number, what: string): void {
  let next = 0;
  for (const r of ranges) {
    assert.equal(r.begin, next, `${what}: [${r.begin}, ${r.end}) does not start at ${next}`);
    assert.ok(r.end >= r.begin, `${what}: [${r.begin}, ${r.end}) is reversed`);
    next = r.end;
  }
  assert.equal(next, size, `${what}: ends at ${next}, not ${size}`);
}

/** m rows and a batch size from 1 to m, m up to a size where chunks hit their upper bound. */
const rowsAndBatch = fc.integer({ min: 1, max: 70_000 }).chain((m) =>
  fc.tuple(fc.constant(m), fc.integer({ min: 1, max: m }))
);
const workers = fc.integer({ min: 1, max: 64 });

describe("sharding arithmetic (property-based)", () => {
  it("batchRanges puts every sample in exactly one batch, full-size but the last", () => {
    fc.assert(fc.property(rowsAndBatch, ([m, batchSize]) => {
      const batches = batchRanges(m, batchSize);
      assertTiles(batches, m, "batches");
      assert.equal(batches.length, Math.ceil(m / batchSize));
      batches.forEach((b, i) => {
        if (i < batches.length - 1) assert.equal(b.end - b.begin, batchSize);
        else assert.ok(b.end > b.begin && b.end - b.begin <= batchSize);
      });
    }));
  });

  it("chunks tile each batch, never more than the workspace's slots, from the batch size alone", () => {
    // chunkRowsFor takes the batch size and nothing else: the worker count cannot change how a
    // batch is cut, which is what makes results independent of it.
    fc.assert(fc.property(rowsAndBatch, ([m, batchSize]) => {
      const chunkRows = Math.min(chunkRowsFor(batchSize), batchSize); // as planWorkspace sizes it
      const slots = chunkCount(batchSize, chunkRows);
      for (const batch of batchRanges(m, batchSize)) {
        const rows = batch.end - batch.begin;
        const chunks = chunkCount(rows, chunkRows);
        assert.ok(chunks >= 1 && chunks <= slots, `${chunks} chunks, ${slots} slots`);
        // The rows of chunk c, as StepShare.computeChunks takes them.
        const ranges = Array.from({ length: chunks }, (_, c) => {
          const first = batch.begin + c * chunkRows;
          return { begin: first, end: first + Math.min(chunkRows, batch.end - first) };
        });
        assert.ok(ranges.every((r) => r.end > r.begin), "an empty chunk");
        assertTiles(
          ranges.map((r) => ({ begin: r.begin - batch.begin, end: r.end - batch.begin })),
          rows,
          "chunks",
        );
      }
    }));
  });

  it("chunk sizes stay within bounds and a multiple of 8 rows", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (batchSize) => {
      const rows = chunkRowsFor(batchSize);
      assert.ok(rows % 8 === 0 && rows <= 1024, `${rows} rows`);
      // Small batches: one chunk, or chunks of at least MIN_CHUNK_ROWS rows.
      assert.ok(rows >= Math.min(MIN_CHUNK_ROWS, batchSize), `${rows} rows of ${batchSize}`);
      // Large batches: about 64 chunks, more only where chunks reach their largest size.
      const count = chunkCount(batchSize, rows);
      assert.ok(count <= 64 || rows === 1024, `${count} chunks of ${rows} rows`);
    }));
  });

  it("share deals any number of chunks to N workers once each, in order, evenly", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5000 }), workers, (count, n) => {
      const shares = Array.from({ length: n }, (_, w) => share(count, w, n));
      assertTiles(shares, count, "shares");
      const sizes = shares.map((s) => s.end - s.begin);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven: ${sizes}`);
    }));
  });

  it("paramSlice cuts [0, P) once each among N workers, at multiples of 16", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2_000_000 }), workers, (size, n) => {
      const slices = Array.from({ length: n }, (_, w) => paramSlice(size, w, n));
      assertTiles(slices, size, "slices");
      // An empty slice has no start to align; the last slice is never empty.
      const nonEmpty = slices.filter((s) => s.end > s.begin);
      assert.equal(nonEmpty.at(-1), slices.at(-1));
      for (const s of nonEmpty) assert.equal(s.begin % 16, 0, `slice starts at ${s.begin}`);
    }));
  });
});
