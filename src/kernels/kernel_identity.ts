import type { Dtype, Floats } from "../dtype.ts";
import { Rng } from "../rng.ts";
import type { Kernels } from "./kernels.ts";
import { type BackendName, loadKernels } from "./select.ts";
import type { WasmVariant } from "./wasm.ts";

/**
 * Chunk shapes the probe runs: every tile body and every tail of each dimension of the wasm
 * kernels (rows past a 4-row tile and a 64-row panel, features past the vector width and the
 * unrolled k-loop, hidden units past a pair), GEMMs large enough for OpenBLAS' blocked kernels,
 * and one that the blas backend multiplies by a transposed copy of W1 (see `transposesW1`).
 */
const SHAPES: readonly { rows: number; n: number; h: number; xOff: number }[] = [
  { rows: 1, n: 1, h: 1, xOff: 0 },
  { rows: 3, n: 5, h: 3, xOff: 1 },
  { rows: 6, n: 7, h: 2, xOff: 0 },
  { rows: 9, n: 17, h: 5, xOff: 3 },
  { rows: 13, n: 29, h: 7, xOff: 2 },
  { rows: 67, n: 33, h: 9, xOff: 1 },
  { rows: 131, n: 70, h: 16, xOff: 0 },
  { rows: 200, n: 64, h: 33, xOff: 5 },
  { rows: 569, n: 30, h: 16, xOff: 2 },
];

/** Logits spread over the ranges where outputLoss's exp and log1p take different paths. */
const LOGIT_RANGE = 40;
/** Bytes the probe's arrays need at most, with room for alignment. */
const MEMORY_PAGES = 8;

/**
 * A short hash of the bits that the kernels of `backend` (with the wasm build `variant`, null for
 * `js`) compute in `dtype` (default both), on fixed inputs: every kernel, on shapes that take every
 * tile and tail path. Two threads, processes or machines that return the same hash compute the same
 * bits for any run of this network; different hashes mean their runs will differ. So a
 * distributed run can check before its first step that all its places agree, or choose a variant
 * on which they do. It takes a few milliseconds (most of it compiling the wasm, once per thread).
 *
 * @example
 * ```ts
 * const mine = await kernelIdentity("wasm", "plain");
 * if (mine !== theirs) console.log("this worker computes other bits");
 * ```
 */
export async function kernelIdentity(
  backend: BackendName,
  variant: WasmVariant | null,
  dtype?: Dtype,
): Promise<string> {
  const memory = new WebAssembly.Memory({
    initial: MEMORY_PAGES,
    maximum: MEMORY_PAGES,
    shared: true,
  });
  const hash = new WordHash();
  for (const d of dtype ? [dtype] : (["f32", "f64"] as const)) {
    const kernels = await loadKernels(backend, d, memory, backend === "js" ? null : variant);
    probe(kernels, d, memory, hash);
  }
  return hash.hex();
}

/** Runs every kernel on every probe shape in `dtype` and hashes each output's bits. */
function probe(kernels: Kernels, dtype: Dtype, memory: WebAssembly.Memory, hash: WordHash): void {
  const rng = new Rng(1, `kernel identity ${dtype}`);
  const buffer = memory.buffer;
  const size = dtype === "f32" ? 4 : 8;
  let next = 0;
  const alloc = (length: number): Floats => {
    const start = next;
    next = Math.ceil((start + length * size) / 64) * 64;
    if (next > buffer.byteLength) throw new Error("kernelIdentity: the probe outgrew its memory");
    return size === 4
      ? new Float32Array(buffer, start, length)
      : new Float64Array(buffer, start, length);
  };
  const random = (length: number, scale: number): Floats => {
    const a = alloc(length);
    for (let i = 0; i < length; i++) a[i] = (2 * rng.uniform() - 1) * scale;
    return a;
  };
  const add = (a: Floats | Float64Array) =>
    hash.update(new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4));
  const stats = new Float64Array(2);

  for (const { rows, n, h, xOff } of SHAPES) {
    next = 0;
    const x = random(xOff * n + rows * n, 2);
    const w1 = random(h * n, 1);
    const b1 = random(h, 0.5);
    const w2 = random(h, 1);
    const b2 = 2 * rng.uniform() - 1;
    const y = alloc(rows);
    for (let r = 0; r < rows; r++) y[r] = rng.below(2);
    const a1 = alloc(rows * h);
    const z = alloc(rows);
    kernels.hiddenForward(x, xOff, rows, n, h, w1, b1, a1);
    add(a1);
    kernels.outputLogits(a1, rows, h, w2, b2, z);
    add(z);
    stats.fill(0);
    kernels.outputLoss(z, y, 0, rows, stats);
    add(z);
    add(stats);
    const gw2 = alloc(h), gb1 = alloc(h), gb2 = alloc(1), gw1 = alloc(h * n);
    kernels.outputBackward(a1, z, rows, h, w2, gw2, gb1, gb2);
    add(a1);
    add(gw2);
    add(gb1);
    add(gb2);
    kernels.weightGradient(a1, x, xOff, rows, n, h, gw1);
    add(gw1);

    // Logits far from zero, where the loss's exp and log1p leave their small-argument ranges.
    const wide = random(rows, LOGIT_RANGE);
    stats.fill(0);
    kernels.outputLoss(wide, y, 0, rows, stats);
    add(wide);
    add(stats);

    // The reduction tree over `chunks` partial slots, for parameters from inside the vector on,
    // and one edge of it on its own.
    const chunks = 3 + (rows % 5);
    const stride = h * n + 3;
    const p0 = Math.min(1, stride - 1);
    const partials = random(chunks * stride, 1);
    kernels.reduceTree(partials, stride, chunks, p0, stride);
    add(partials.subarray(p0, stride));
    const into = random(stride, 1);
    kernels.accumulate(into, p0, random(stride, 1), p0, stride - p0);
    add(into);
  }
}

/**
 * A 64-bit hash of 32-bit words in two lanes, a quarter of the steps of a bytewise hash (the probe
 * hashes a few hundred kilobytes, mostly before the JIT has compiled the loop). Each step is a
 * bijection of each lane's state for a given word, so outputs that differ in one word always hash
 * differently; more differences collide with probability about 2⁻⁶⁴.
 */
class WordHash {
  #a = 0x811c9dc5;
  #b = 0x9e3779b9;

  update(words: Uint32Array): void {
    let a = this.#a;
    let b = this.#b;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      a = Math.imul(a ^ w, 0x01000193);
      b = Math.imul(b + w, 0x85ebca6b);
      b ^= b >>> 15;
    }
    this.#a = a;
    this.#b = b;
  }

  hex(): string {
    const word = (x: number) => (x >>> 0).toString(16).padStart(8, "0");
    return word(this.#a) + word(this.#b);
  }
}
