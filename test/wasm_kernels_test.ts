import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Dtype, Floats } from "../src/dtype.ts";
import { jsKernels, jsKernelsWithBiasRelu } from "../src/kernels/js.ts";
import type { KernelsWithBiasRelu } from "../src/kernels/kernels.ts";
import {
  compileWasmKernels,
  createWasmKernels,
  instantiateWasmKernels,
  wasmKernelsVariant,
} from "../src/kernels/wasm.ts";
import { PLAIN_WASM_BASE64 } from "../src/kernels/wasm/kernels_bin.ts";
import { DEFAULT_TILES, type Tiles } from "../src/kernels/wasm/gen.ts";
import { assemble } from "../scripts/build_wasm.ts";
import { Rng } from "../src/rng.ts";
import { type KernelShape, kernelShapes, shapeLabel } from "./kernel_shapes.ts";

const DTYPES: Dtype[] = ["f32", "f64"];
// Relative to Σ|terms| of each result: the wasm kernels sum in other orders (vector lanes, fused
// multiply-add) and, in f32, in f32 where the reference sums dot products in f64.
const TOLERANCE: Record<Dtype, number> = { f32: 1e-5, f64: 1e-12 };

const memory = new WebAssembly.Memory({ initial: 1024, maximum: 8192, shared: true });

/** Hands out views on `memory`, each at a random element-aligned but not vector-aligned offset. */
class Arena {
  #next = 64;
  #rng = new Rng(1, "arena");
  constructor(readonly dtype: Dtype, readonly mem = memory) {}
  alloc(len: number): Floats {
    const size = this.dtype === "f32" ? 4 : 8;
    const start = this.#next + size * Math.floor(this.#rng.uniform() * 4);
    this.#next = Math.ceil((start + len * size + 1) / 64) * 64;
    const buffer = this.mem.buffer;
    if (this.#next > buffer.byteLength) throw new Error("test arena: out of memory");
    return size === 4 ? new Float32Array(buffer, start, len) : new Float64Array(buffer, start, len);
  }
  /** A zeroed Float64Array of two on the memory, like outputLoss's `stats`. */
  stats(): Float64Array {
    const start = this.#next;
    this.#next += 64;
    return new Float64Array(this.mem.buffer, start, 2).fill(0);
  }
  /** A view on the arena holding a copy of `src`. */
  copy(src: ArrayLike<number>): Floats {
    const a = this.alloc(src.length);
    for (let i = 0; i < src.length; i++) a[i] = src[i];
    return a;
  }
}

/** An ordinary (non-shared) array of the same type and contents, for the reference kernels. */
function plainCopy(a: Floats): Floats {
  return a instanceof Float32Array ? new Float32Array(a) : new Float64Array(a);
}

function random(rng: Rng, len: number, scale = 1): number[] {
  return Array.from({ length: len }, () => (rng.uniform() * 2 - 1) * scale);
}

/** |got − want| ≤ tol·scale(i) element-wise, NaN only where the reference has NaN. */
function assertClose(
  what: string,
  got: Floats,
  want: Floats,
  scale: (i: number) => number,
  tol: number,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) {
      assert.ok(Number.isNaN(got[i]), `${what}[${i}]: got ${got[i]}, want NaN`);
      continue;
    }
    const err = Math.abs(got[i] - want[i]);
    const bound = tol * Math.max(scale(i), Number.MIN_VALUE);
    if (!(err <= bound)) {
      assert.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (|err| ${err} > ${bound})`);
    }
  }
}

function assertSameBits(what: string, got: Floats, want: Floats): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      assert.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} bit for bit`);
    }
  }
}

function shapes(): KernelShape[] {
  const rng = new Rng(11, "wasm shapes");
  const fixed: KernelShape[] = [
    { rows: 1, n: 1, h: 1, xOff: 0 },
    { rows: 1, n: 7, h: 3, xOff: 5 },
    { rows: 5, n: 1, h: 9, xOff: 1 },
    { rows: 3, n: 13, h: 1, xOff: 2 },
    { rows: 64, n: 30, h: 8, xOff: 30 },
    { rows: 64, n: 30, h: 16, xOff: 1 },
    // the bundled data set's chunks: 32 rows, and the 25 left at the end
    { rows: 32, n: 30, h: 16, xOff: 0 },
    { rows: 25, n: 30, h: 16, xOff: 7 },
    { rows: 17, n: 31, h: 11, xOff: 3 },
    { rows: 130, n: 27, h: 5, xOff: 0 },
    { rows: 512, n: 256, h: 64, xOff: 256 * 3 + 1 },
    { rows: 0, n: 4, h: 3, xOff: 0 },
    { rows: 4, n: 0, h: 3, xOff: 0 },
    { rows: 4, n: 3, h: 0, xOff: 0 },
  ];
  return kernelShapes(fixed, rng, 8, { rows: 90, n: 70, h: 21, xOff: 9 });
}

const label = shapeLabel;

/**
 * Tile choices other than the defaults, assembled here, so that the generator's code paths the
 * shipped binary does not use are checked too: row and unit tiles left over (6 → 4, 2, 1 rows;
 * 3 → 2, 1 units), rows held with units streamed (R < J), k unrolled by a power of two or not,
 * broadcast and pair forms of weightGradient with 1, 2 or 4 rows per iteration and short panels
 * (sums stored and resumed), and outputLoss with one, two or four groups per iteration.
 */
const OTHER_TILES: Partial<Tiles>[] = [
  { hfR: 6, hfJ: 3, hfU: 2, wgJ: 2, wgK: 5, wgP: 16, wgU: 4, wgPair: true, lossG: 2 },
  { hfR: 3, hfJ: 4, hfU: 3, wgJ: 3, wgK: 2, wgP: 7, wgU: 2, wgPair: false, lossG: 1 },
  { wgU: 2, wgPair: false, wgP: 5 },
];

/**
 * The kernels under test: this runtime's pick (relaxed where supported), the plain build, and
 * relaxed builds of `OTHER_TILES`.
 */
async function variants(): Promise<[string, WebAssembly.Module][]> {
  const bin = atob(PLAIN_WASM_BASE64);
  const plain = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) plain[i] = bin.charCodeAt(i);
  const others: [string, WebAssembly.Module][] = [];
  for (const t of OTHER_TILES) {
    const tiles = { f32: { ...DEFAULT_TILES.f32, ...t }, f64: { ...DEFAULT_TILES.f64, ...t } };
    others.push([
      `tiles ${JSON.stringify(t)}`,
      new WebAssembly.Module(await assemble(true, tiles)),
    ]);
  }
  return [
    [wasmKernelsVariant(), await compileWasmKernels()],
    ["plain (forced)", new WebAssembly.Module(plain)],
    ...others,
  ];
}

for (const [variant, module] of await variants()) {
  for (const dtype of DTYPES) {
    const tol = TOLERANCE[dtype];
    const k: KernelsWithBiasRelu = instantiateWasmKernels(module, memory, dtype);

    describe(`wasm kernels, ${variant}, ${dtype}`, () => {
      it("hiddenForward matches the reference, ReLU(0) = +0, and repeats bit for bit", () => {
        const rng = new Rng(2, `hf ${dtype}`);
        for (const s of shapes()) {
          const arena = new Arena(dtype);
          const x = arena.copy(random(rng, s.xOff + s.rows * s.n + 2));
          const w1 = arena.copy(random(rng, s.h * s.n));
          const b1 = arena.copy(random(rng, s.h, 0.5));
          if (s.h > 0) {
            // unit 0 has pre-activation exactly 0 on every row
            w1.fill(0, 0, s.n);
            b1[0] = 0;
          }
          const a1 = arena.copy(random(rng, s.rows * s.h));
          const want = plainCopy(a1);
          k.hiddenForward(x, s.xOff, s.rows, s.n, s.h, w1, b1, a1);
          jsKernels.hiddenForward(plainCopy(x), s.xOff, s.rows, s.n, s.h, w1, b1, want);
          const scale = (i: number) => {
            const r = Math.floor(i / s.h), j = i % s.h;
            let t = Math.abs(b1[j]);
            for (let q = 0; q < s.n; q++) t += Math.abs(x[s.xOff + r * s.n + q] * w1[j * s.n + q]);
            return t;
          };
          assertClose(`A1 ${label(s)}`, a1, want, scale, tol);
          for (let r = 0; r < s.rows && s.h > 0; r++) {
            assert.ok(Object.is(a1[r * s.h], 0), `A1[${r},0] should be +0, got ${a1[r * s.h]}`);
          }
          const again = arena.copy(a1);
          k.hiddenForward(x, s.xOff, s.rows, s.n, s.h, w1, b1, again);
          assertSameBits(`A1 twice ${label(s)}`, again, a1);
        }
      });

      it("hiddenForward gives a row the same bits wherever it sits in the chunk", () => {
        const rng = new Rng(8, `hf pos ${dtype}`);
        const [rows, n, h] = [37, 29, 13];
        const arena = new Arena(dtype);
        const x = arena.copy(random(rng, rows * n));
        const w1 = arena.copy(random(rng, h * n)), b1 = arena.copy(random(rng, h));
        const all = arena.alloc(rows * h);
        k.hiddenForward(x, 0, rows, n, h, w1, b1, all);
        for (const skip of [1, 2, 3, 5, 36]) {
          const part = arena.alloc((rows - skip) * h);
          k.hiddenForward(x, skip * n, rows - skip, n, h, w1, b1, part);
          assertSameBits(`rows from ${skip}`, part, all.subarray(skip * h));
        }
      });

      it("biasRelu matches the reference bit for bit, in place, on signed zeros, ±∞ and NaN", () => {
        const rng = new Rng(9, `br ${dtype}`);
        const special = [0, -0, Infinity, -Infinity, NaN];
        for (const s of shapes()) {
          const arena = new Arena(dtype);
          const a1 = arena.copy(
            random(rng, s.rows * s.h, 4).map((v, i) => i % 7 === 3 ? special[i % 5] : v),
          );
          const b1 = arena.copy(random(rng, s.h, 2).map((v, j) => j % 5 === 2 ? 0 : v));
          const want = plainCopy(a1);
          k.biasRelu(a1, s.rows, s.h, b1);
          jsKernelsWithBiasRelu.biasRelu(want, s.rows, s.h, plainCopy(b1));
          assertSameBits(`A1 ${label(s)}`, a1, want);
        }
      });

      it("outputLogits matches the reference", () => {
        const rng = new Rng(3, `ol ${dtype}`);
        for (const s of shapes()) {
          const arena = new Arena(dtype);
          const a1 = arena.copy(random(rng, s.rows * s.h).map((v) => Math.max(v, 0)));
          const w2 = arena.copy(random(rng, s.h));
          const b2 = dtype === "f32" ? Math.fround(0.37) : 0.37;
          const z = arena.copy(random(rng, s.rows));
          const want = plainCopy(z);
          k.outputLogits(a1, s.rows, s.h, w2, b2, z);
          jsKernels.outputLogits(a1, s.rows, s.h, w2, b2, want);
          const scale = (r: number) => {
            let t = Math.abs(b2);
            for (let j = 0; j < s.h; j++) t += Math.abs(a1[r * s.h + j] * w2[j]);
            return t;
          };
          assertClose(`Z ${label(s)}`, z, want, scale, tol);
        }
      });

      it("outputLoss matches the reference, counts exactly, and accumulates into stats", () => {
        const rng = new Rng(4, `loss ${dtype}`);
        // σ(z) ≥ 0.5 flips where exp(−z) rounds past 1 + 2^−52, at z = −1.5·2^−52
        const edge = -1.5 * 2 ** -52;
        const special = [
          ...[0, -0, 1e-300, -1e-300, 1e-17, -1e-17, -1e-16, -2.2e-16, 2.2e-16, -1e-15],
          ...[edge, edge * (1 + 2 ** -52), edge * (1 - 2 ** -52), 1e-8, -1e-8, 0.5, -0.5],
          ...[20, -20, 40, -40, 700, -700, 710, -710, 800, -800],
        ];
        for (const rows of [0, 1, 2, 3, 7, 64, 129, 2 * special.length + 1]) {
          const arena = new Arena(dtype);
          const zs = random(rng, rows, 8);
          for (let i = 0; i < Math.min(rows, special.length); i++) zs[i] = special[i];
          const yOff = 3;
          const ys = random(rng, yOff + rows).map((v) => (v > 0 ? 1 : 0));
          const z = arena.copy(zs), y = arena.copy(ys);
          const want = plainCopy(z);
          const stats = new Float64Array([1.25, 3]);
          const wantStats = new Float64Array(stats);
          k.outputLoss(z, y, yOff, rows, stats);
          jsKernels.outputLoss(want, plainCopy(y), yOff, rows, wantStats);
          assertClose(`dZ2 rows=${rows}`, z, want, () => 1, tol);
          let terms = 1.25;
          for (let r = 0; r < rows; r++) {
            const v = zs[r];
            terms += Math.abs(Math.max(v, 0)) + Math.abs(v * ys[yOff + r]) + Math.LN2;
          }
          assert.ok(Math.abs(stats[0] - wantStats[0]) <= tol * terms, `loss rows=${rows}`);
          assert.equal(stats[1], wantStats[1], `correct count rows=${rows}`);
          // stats may also be a view on the memory; and the same inputs give the same bits
          const statsIn = arena.stats();
          const statsOut = new Float64Array(2);
          const [z2, z3] = [arena.copy(zs), arena.copy(zs)];
          k.outputLoss(z2, y, yOff, rows, statsIn);
          k.outputLoss(z3, y, yOff, rows, statsOut);
          assertSameBits(`dZ2 again rows=${rows}`, z2, z);
          assertSameBits(`dZ2 again rows=${rows}`, z3, z);
          assertSameBits(`stats in memory rows=${rows}`, statsIn, statsOut);
          assert.equal(statsIn[1], wantStats[1] - 3);
        }
      });

      it("outputLoss follows the reference on infinite and NaN logits", () => {
        for (const [zv, yv] of [[Infinity, 0], [Infinity, 1], [-Infinity, 0], [NaN, 1], [NaN, 0]]) {
          const arena = new Arena(dtype);
          const z = arena.copy([zv, 1, zv]), y = arena.copy([yv, 1, yv]);
          const want = plainCopy(z);
          const stats = new Float64Array(2), wantStats = new Float64Array(2);
          k.outputLoss(z, y, 0, 3, stats);
          jsKernels.outputLoss(want, plainCopy(y), 0, 3, wantStats);
          assertClose(`dZ2 z=${zv} y=${yv}`, z, want, () => 1, tol);
          assertSameBits(`loss z=${zv} y=${yv}`, stats.subarray(0, 1), wantStats.subarray(0, 1));
          assert.equal(stats[1], wantStats[1], `count z=${zv} y=${yv}`);
        }
      });

      it("outputBackward matches the reference; A1 becomes dZ1 in place with ReLU′(0) = 0", () => {
        const rng = new Rng(5, `ob ${dtype}`);
        for (const s of shapes()) {
          const arena = new Arena(dtype);
          // pre-activations with exact zeros (both signs), negatives and positives
          const vals = random(rng, s.rows * s.h).map((v, i) =>
            i % 5 === 0 ? 0 : i % 7 === 0 ? -0 : v < -0.3 ? 0 : v
          );
          const a1 = arena.copy(vals);
          const dz2 = arena.copy(random(rng, s.rows));
          const w2 = arena.copy(random(rng, s.h));
          const gw2 = arena.copy(random(rng, s.h)), gb1 = arena.copy(random(rng, s.h));
          const gb2 = arena.copy([7]);
          const [wa1, wgw2, wgb1, wgb2] = [a1, gw2, gb1, gb2].map(plainCopy);
          k.outputBackward(a1, dz2, s.rows, s.h, w2, gw2, gb1, gb2);
          jsKernels.outputBackward(wa1, dz2, s.rows, s.h, w2, wgw2, wgb1, wgb2);
          assertSameBits(`dZ1 ${label(s)}`, a1, wa1);
          const col = (f: (r: number, j: number) => number) => (j: number) => {
            let t = 0;
            for (let r = 0; r < s.rows; r++) t += Math.abs(f(r, j));
            return t;
          };
          assertClose(`gW2 ${label(s)}`, gw2, wgw2, col((r, j) => dz2[r] * vals[r * s.h + j]), tol);
          assertClose(`gb1 ${label(s)}`, gb1, wgb1, col((r, j) => wa1[r * s.h + j]), tol);
          assertClose(`gb2 ${label(s)}`, gb2, wgb2, col((r) => dz2[r]), tol);
        }
      });

      it("weightGradient matches the reference, overwrites gW1, and repeats bit for bit", () => {
        const rng = new Rng(6, `wg ${dtype}`);
        for (const s of shapes()) {
          const arena = new Arena(dtype);
          const x = arena.copy(random(rng, s.xOff + s.rows * s.n + 1));
          const dz1 = arena.copy(random(rng, s.rows * s.h).map((v) => (v < -0.5 ? 0 : v)));
          const gw1 = arena.alloc(s.h * s.n).fill(NaN);
          const want = new (dtype === "f32" ? Float32Array : Float64Array)(s.h * s.n);
          k.weightGradient(dz1, x, s.xOff, s.rows, s.n, s.h, gw1);
          jsKernels.weightGradient(dz1, plainCopy(x), s.xOff, s.rows, s.n, s.h, want);
          const scale = (i: number) => {
            const j = Math.floor(i / s.n), q = i % s.n;
            let t = 0;
            for (let r = 0; r < s.rows; r++) {
              t += Math.abs(dz1[r * s.h + j] * x[s.xOff + r * s.n + q]);
            }
            return t;
          };
          assertClose(`gW1 ${label(s)}`, gw1, want, scale, tol);
          const again = arena.alloc(s.h * s.n);
          k.weightGradient(dz1, x, s.xOff, s.rows, s.n, s.h, again);
          assertSameBits(`gW1 twice ${label(s)}`, again, gw1);
        }
      });

      it("reduceTree reproduces the reference bit for bit on its range and only there", () => {
        const rng = new Rng(9, `tree ${dtype}`);
        for (
          const [count, stride, p0, p1] of [
            [1, 5, 0, 5],
            [2, 9, 1, 8],
            [5, 37, 3, 30],
            [7, 1300, 5, 1297],
            [64, 1100, 0, 1100],
            [33, 16, 15, 16],
          ]
        ) {
          const arena = new Arena(dtype);
          const values = arena.copy(random(rng, count * stride + 3));
          const reference = plainCopy(values);
          const before = plainCopy(values);
          k.reduceTree(values, stride, count, p0, p1);
          jsKernels.reduceTree(reference, stride, count, p0, p1);
          assertSameBits(`reduceTree ${count} × [${p0}, ${p1})`, values, reference);
          for (let i = 0; i < values.length; i++) {
            const e = i % stride;
            if (i >= count * stride || e < p0 || e >= p1) {
              assert.ok(Object.is(values[i], before[i]), `[${i}] moved`);
            }
          }
        }
      });

      it("accumulate reproduces the reference bit for bit on its range and only there", () => {
        const rng = new Rng(7, `acc ${dtype}`);
        for (const [len, aOff, bOff] of [[1, 0, 1], [3, 5, 30], [130, 0, 130], [16513, 3, 16520]]) {
          const arena = new Arena(dtype);
          const values = arena.copy(random(rng, bOff + len + 3));
          const reference = plainCopy(values);
          const before = plainCopy(values);
          k.accumulate(values, aOff, values, bOff, len);
          jsKernels.accumulate(reference, aOff, reference, bOff, len);
          assertSameBits(`accumulate ${len} from ${aOff} and ${bOff}`, values, reference);
          for (let i = 0; i < values.length; i++) {
            if (i < aOff || i >= aOff + len) {
              assert.ok(Object.is(values[i], before[i]), `[${i}] moved`);
            }
          }
        }
      });
    });
  }
}

describe("wasm kernels: arguments", () => {
  it("rejects arrays off the memory, of the other precision, or too short", async () => {
    const k = await createWasmKernels(memory, "f64");
    const arena = new Arena("f64");
    const a1 = arena.alloc(6), dz1 = arena.alloc(6), x = arena.alloc(6), gw1 = arena.alloc(4);
    assert.throws(() => k.weightGradient(dz1, new Float64Array(6), 0, 3, 2, 2, gw1), TypeError);
    assert.throws(
      () => k.weightGradient(dz1, new Float32Array(memory.buffer, 0, 6), 0, 3, 2, 2, gw1),
      TypeError,
    );
    assert.throws(() => k.weightGradient(dz1, x, 1, 3, 2, 2, gw1), RangeError);
    assert.throws(() => k.weightGradient(dz1, x, 0, 3, 2, 3, gw1), RangeError);
    assert.throws(() => k.weightGradient(dz1, x, 0, -1, 2, 2, gw1), RangeError);
    k.weightGradient(dz1, x, 0, 3, 2, 2, gw1);
    void a1;
  });

  it("rejects a memory that is not shared", async () => {
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    await assert.rejects(createWasmKernels(plain, "f32"), TypeError);
  });

  it("rejects a shared memory of no pages (the module declares a one-page minimum)", async () => {
    const empty = new WebAssembly.Memory({ initial: 0, maximum: 2, shared: true });
    await assert.rejects(createWasmKernels(empty, "f64"), RangeError);
  });

  it("keeps accepting views made before the memory grew, and views made after", async () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true });
    const k = await createWasmKernels(mem, "f32");
    const arena = new Arena("f32", mem);
    const z = arena.copy([0.5, -1]), w2 = arena.copy([2]), a1 = arena.copy([1, 3]);
    mem.grow(3);
    const later = new Float32Array(mem.buffer, 3 * 65536, 2);
    k.outputLogits(a1, 2, 1, w2, 0.25, z);
    assert.deepEqual([...z], [2.25, 6.25]);
    k.outputLogits(a1, 2, 1, w2, 0.25, later);
    assert.deepEqual([...later], [2.25, 6.25]);
    assert.throws(() => k.outputLogits(a1, 2, 1, w2, 0, new Float32Array(2)), TypeError);
  });
});
