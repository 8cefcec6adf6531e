/**
 * How a batch is cut into chunks and how chunks and parameters are dealt to workers.
 *
 * Determinism rests on one rule: the chunking depends only on the batch size, never on the
 * number of workers. Each chunk's partial gradient is then computed by the same code on the same
 * rows whichever worker owns it, and the partials are added in chunk order, so any worker count
 * produces the same bits.
 */

/**
 * Fewer rows than this per chunk and the per-chunk overhead dominates a small batch's step: every
 * chunk costs five kernel calls (two of them GEMMs through FFI on blas), a partial-gradient slot
 * and an edge of the reduction tree, whichever thread computes it.
 */
export const MIN_CHUNK_ROWS = 512;
/** More rows than this and a chunk's activations stop fitting in a core's cache. */
const MAX_CHUNK_ROWS = 1024;
/** Enough chunks per batch to balance up to this many workers evenly (a few chunks each). */
const TARGET_CHUNKS = 64;

/**
 * Rows per chunk for batches of `batchSize` rows: the batch split evenly into `TARGET_CHUNKS`
 * chunks, or into as many as hold `MIN_CHUNK_ROWS` rows each when it is smaller (a batch of fewer
 * than 2 · `MIN_CHUNK_ROWS` rows is one chunk), rounded up to a multiple of 8 rows (so float32
 * rows of a multiple-of-4 width stay 16-byte aligned), at most `MAX_CHUNK_ROWS`.
 *
 * @example
 * ```ts
 * chunkRowsFor(32768); // 512
 * chunkRowsFor(569); // 576: one chunk
 * ```
 */
export function chunkRowsFor(batchSize: number): number {
  const chunks = Math.min(TARGET_CHUNKS, Math.max(1, Math.floor(batchSize / MIN_CHUNK_ROWS)));
  return Math.min(MAX_CHUNK_ROWS, Math.ceil(batchSize / chunks / 8) * 8);
}

/** Number of chunks of a batch of `rows` rows. */
export function chunkCount(rows: number, chunkRows: number): number {
  return Math.ceil(rows / chunkRows);
}

/** A half-open range [begin, end). */
export interface Range {
  readonly begin: number;
  readonly end: number;
}

/** One step's batch: rows [begin, end) of the epoch's order. */
export interface Batch extends Range {
  /** True when the epoch's order is a shuffle, so rows must be gathered through it. */
  readonly shuffled: boolean;
}

/**
 * The contiguous share of `count` items that worker `w` of `workers` owns; shares differ in size
 * by at most one, and when there are more workers than items the last workers own nothing.
 *
 * @example
 * ```ts
 * share(10, 1, 3); // { begin: 3, end: 6 }
 * ```
 */
export function share(count: number, w: number, workers: number): Range {
  return {
    begin: Math.floor((w * count) / workers),
    end: Math.floor(((w + 1) * count) / workers),
  };
}

/** Parameter slices are cut at multiples of this, so each slice starts on a 64-byte boundary. */
const SLICE_ALIGN = 16;

/**
 * Slice `slice` of `slices` of a `size`-element parameter vector, cut at multiples of 16 elements.
 *
 * @example
 * ```ts
 * paramSlice(257, 0, 2); // { begin: 0, end: 128 }
 * ```
 */
export function paramSlice(size: number, slice: number, slices: number): Range {
  const blocks = Math.ceil(size / SLICE_ALIGN);
  const { begin, end } = share(blocks, slice, slices);
  return { begin: Math.min(size, begin * SLICE_ALIGN), end: Math.min(size, end * SLICE_ALIGN) };
}

/** Reduction slices per worker: enough that a worker slowed by the machine takes fewer. */
const SLICES_PER_WORKER = 4;

/**
 * How many slices the reduction of a `size`-element parameter vector is cut into when `workers`
 * threads share it; slice s is `paramSlice(size, s, reduceSlices(size, workers))`.
 *
 * @example
 * ```ts
 * reduceSlices(16_513, 2); // 8
 * ```
 */
export function reduceSlices(size: number, workers: number): number {
  return Math.max(1, Math.min(Math.ceil(size / SLICE_ALIGN), workers * SLICES_PER_WORKER));
}

/** The batches of one epoch over `samples` rows, `batchSize` each; the last one may be smaller. */
export function batchRanges(samples: number, batchSize: number): Range[] {
  const ranges: Range[] = [];
  for (let begin = 0; begin < samples; begin += batchSize) {
    ranges.push({ begin, end: Math.min(samples, begin + batchSize) });
  }
  return ranges;
}
