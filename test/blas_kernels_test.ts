import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Dtype, Floats } from "../src/dtype.ts";
import { createBlasKernels, findBlasLibrary, transposesW1 } from "../src/kernels/blas.ts";
import { jsKernels } from "../src/kernels/js.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import { Rng } from "../src/rng.ts";
import { type KernelShape, kernelShapes, shapeLabel } from "./kernel_shapes.ts";

const libraryPath = findBlasLibrary();
const skip = libraryPath === null
  ? "OpenBLAS not found: install libopenblas0-pthread or set SHARDNET_BLAS_LIB"
  : false;
if (skip) console.warn(`blas_kernels_test: skipping every test: ${skip}`);

const DTYPES: Dtype[] = ["f32", "f64"];
// Relative to Σ|terms|: float32 sums over hundreds of terms in a different order than the
// reference (which rounds once in f64 for hiddenForward, at every += for weightGradient).
const TOLERANCE: Record<Dtype, number> = { f32: 1e-5, f64: 1e-12 };

function arrayType(dtype: Dtype): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === "f32" ? Float32Array : Float64Array;
}

function viewOn(dtype: Dtype, buffer: ArrayBufferLike, byteOffset: number, length: number): Floats {
  return dtype === "f32"
    ? new Float32Array(buffer, byteOffset, length)
    : new Float64Array(buffer, byteOffset, length);
}

const backends = new Map<Dtype, Kernels>();
function blas(dtype: Dtype): Kernels {
  let kernels = backends.get(dtype);
  if (kernels === undefined) {
    kernels = createBlasKernels(dtype, libraryPath ?? undefined);
    backends.set(dtype, kernels);
  }
  return kernels;
}

function shapes(): KernelShape[] {
  const rng = new Rng(7, "blas shapes");
  const fixed: KernelShape[] = [
    { rows: 1, n: 1, h: 1, xOff: 0 },
    { rows: 1, n: 7, h: 3, xOff: 5 },
    { rows: 5, n: 1, h: 9, xOff: 1 },
    { rows: 3, n: 13, h: 1, xOff: 0 },
    { rows: 17, n: 30, h: 11, xOff: 3 },
    // Multiplied by a transposed copy of W1 (see transposesW1), with and without an offset.
    { rows: 569, n: 30, h: 16, xOff: 0 },
    { rows: 600, n: 33, h: 15, xOff: 7 },
    { rows: 512, n: 256, h: 64, xOff: 0 },
    { rows: 512, n: 256, h: 64, xOff: 256 * 3 + 1 },
    { rows: 0, n: 4, h: 3, xOff: 0 },
    { rows: 4, n: 0, h: 3, xOff: 0 },
  ];
  return kernelShapes(fixed, rng, 6, { rows: 70, n: 70, h: 40, xOff: 49 });
}

const label = shapeLabel;

/** Where arrays live: ordinary typed arrays, or views on one shared WebAssembly.Memory. */
interface Arena {
  name: string;
  alloc(dtype: Dtype, length: number): Floats;
}

function ordinaryArena(): Arena {
  return { name: "ordinary", alloc: (dtype, length) => new (arrayType(dtype))(length) };
}

function wasmArena(memory: WebAssembly.Memory): Arena {
  let next = 8; // not 16- or 64-byte aligned, to show BLAS does not rely on alignment
  return {
    name: "shared wasm memory",
    alloc(dtype, length) {
      const size = arrayType(dtype).BYTES_PER_ELEMENT;
      next = Math.ceil(next / size) * size;
      const bytes = (length + 1) * size;
      if (next + bytes > memory.buffer.byteLength) {
        memory.grow(Math.ceil((next + bytes - memory.buffer.byteLength) / 65536));
      }
      const view = viewOn(dtype, memory.buffer, next, length);
      next += bytes;
      return view;
    },
  };
}

function sharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 16, maximum: 1024, shared: true });
}

function filled(arena: Arena, dtype: Dtype, length: number, rng: Rng, zeros = 0): Floats {
  const a = arena.alloc(dtype, length);
  for (let i = 0; i < length; i++) a[i] = rng.uniform() < zeros ? 0 : 2 * rng.uniform() - 1;
  return a;
}

/** Every element of `got` within `tol · scale[i]` of `want` (exactly equal where scale is 0). */
function assertClose(got: Floats, want: Floats, scale: Float64Array, tol: number, what: string) {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * scale[i])) {
      assert.fail(`${what}: [${i}] = ${got[i]}, reference ${want[i]}, scale ${scale[i]}`);
    }
  }
}

function bits(a: Floats): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

interface Case {
  x: Floats;
  w1: Floats;
  b1: Floats;
  dz1: Floats;
}

function makeCase(arena: Arena, dtype: Dtype, s: KernelShape, seed: number): Case {
  const rng = new Rng(seed, label(s));
  return {
    x: filled(arena, dtype, s.xOff + s.rows * s.n, rng),
    w1: filled(arena, dtype, s.h * s.n, rng),
    b1: filled(arena, dtype, s.h, rng),
    // Backprop through ReLU leaves many exact zeros; the reference skips them.
    dz1: filled(arena, dtype, s.rows * s.h, rng, 0.5),
  };
}

function hiddenForward(k: Kernels, arena: Arena, dtype: Dtype, s: KernelShape, c: Case): Floats {
  const a1 = arena.alloc(dtype, s.rows * s.h).fill(NaN); // overwritten, never read
  k.hiddenForward(c.x, s.xOff, s.rows, s.n, s.h, c.w1, c.b1, a1);
  return a1;
}

function weightGradient(k: Kernels, arena: Arena, dtype: Dtype, s: KernelShape, c: Case): Floats {
  const gw1 = arena.alloc(dtype, s.h * s.n).fill(NaN);
  k.weightGradient(c.dz1, c.x, s.xOff, s.rows, s.n, s.h, gw1);
  return gw1;
}

function forwardScale(s: KernelShape, c: Case): Float64Array {
  const scale = new Float64Array(s.rows * s.h);
  for (let r = 0; r < s.rows; r++) {
    for (let j = 0; j < s.h; j++) {
      let sum = Math.abs(c.b1[j]);
      for (let k = 0; k < s.n; k++) sum += Math.abs(c.x[s.xOff + r * s.n + k] * c.w1[j * s.n + k]);
      scale[r * s.h + j] = sum;
    }
  }
  return scale;
}

function gradientScale(s: KernelShape, c: Case): Float64Array {
  const scale = new Float64Array(s.h * s.n);
  for (let r = 0; r < s.rows; r++) {
    for (let j = 0; j < s.h; j++) {
      const d = Math.abs(c.dz1[r * s.h + j]);
      for (let k = 0; k < s.n; k++) scale[j * s.n + k] += d * Math.abs(c.x[s.xOff + r * s.n + k]);
    }
  }
  return scale;
}

describe("blas kernels", () => {
  for (const dtype of DTYPES) {
    for (const makeArena of [ordinaryArena, () => wasmArena(sharedMemory())]) {
      const arenaName = makeArena().name;

      it(`${dtype}, ${arenaName}: hiddenForward matches js`, { skip }, () => {
        for (const s of shapes()) {
          const arena = makeArena();
          const c = makeCase(arena, dtype, s, 1);
          const got = hiddenForward(blas(dtype), arena, dtype, s, c);
          const want = hiddenForward(jsKernels, arena, dtype, s, c);
          assertClose(got, want, forwardScale(s, c), TOLERANCE[dtype], label(s));
        }
      });

      it(`${dtype}, ${arenaName}: weightGradient matches js`, { skip }, () => {
        for (const s of shapes()) {
          const arena = makeArena();
          const c = makeCase(arena, dtype, s, 2);
          const got = weightGradient(blas(dtype), arena, dtype, s, c);
          const want = weightGradient(jsKernels, arena, dtype, s, c);
          assertClose(got, want, gradientScale(s, c), TOLERANCE[dtype], label(s));
        }
      });

      it(`${dtype}, ${arenaName}: the other kernels give the js bits`, { skip }, () => {
        const k = blas(dtype);
        const arena = makeArena();
        const rng = new Rng(3, "others");
        const rows = 37, h = 13, chunks = 3, stride = 50;
        const a1 = filled(arena, dtype, rows * h, rng, 0.3);
        const w2 = filled(arena, dtype, h, rng);
        const y = arena.alloc(dtype, rows + 2).map((_, i) => (i * 7) % 3 === 0 ? 1 : 0);
        const partials = filled(arena, dtype, chunks * stride, rng);
        const params = filled(arena, dtype, stride, rng);
        const results = [k, jsKernels].map((kk) => {
          const z = arena.alloc(dtype, rows);
          const stats = new Float64Array(2);
          const a = arena.alloc(dtype, rows * h);
          const [gw2, gb1, gb2] = [h, h, 1].map((len) => arena.alloc(dtype, len));
          const p = arena.alloc(dtype, stride);
          a.set(a1);
          p.set(params);
          kk.outputLogits(a, rows, h, w2, 0.25, z);
          const logits = z.slice();
          kk.outputLoss(z, y, 2, rows, stats);
          kk.outputBackward(a, z, rows, h, w2, gw2, gb1, gb2);
          kk.accumulate(p, 5, partials, (chunks - 1) * stride + 5, 36);
          return [logits, z, stats, a, gw2, gb1, gb2, p].map((v) => bits(v));
        });
        assert.deepEqual(results[0], results[1]);
      });

      it(`${dtype}, ${arenaName}: same inputs give the same bits`, { skip }, () => {
        for (
          const s of [{ rows: 300, n: 123, h: 45, xOff: 7 }, { rows: 569, n: 30, h: 16, xOff: 3 }]
        ) {
          const arena = makeArena();
          const c = makeCase(arena, dtype, s, 4);
          const k = blas(dtype);
          for (const run of [hiddenForward, weightGradient]) {
            assert.deepEqual(bits(run(k, arena, dtype, s, c)), bits(run(k, arena, dtype, s, c)));
          }
        }
      });
    }

    it(`${dtype}: ordinary and shared-memory arrays give the same bits`, { skip }, () => {
      const s = { rows: 129, n: 70, h: 33, xOff: 3 };
      const ordinary = ordinaryArena();
      const shared = wasmArena(sharedMemory());
      const k = blas(dtype);
      const c1 = makeCase(ordinary, dtype, s, 5);
      const c2 = makeCase(shared, dtype, s, 5);
      for (const run of [hiddenForward, weightGradient]) {
        assert.deepEqual(bits(run(k, ordinary, dtype, s, c1)), bits(run(k, shared, dtype, s, c2)));
      }
    });

    it(`${dtype}: still right after the shared memory grows`, { skip }, () => {
      const memory = sharedMemory();
      const s = { rows: 40, n: 24, h: 8, xOff: 2 };
      const arena = wasmArena(memory);
      const c = makeCase(arena, dtype, s, 6);
      const before = bits(hiddenForward(blas(dtype), arena, dtype, s, c));
      const oldBuffer = memory.buffer;
      memory.grow(3);
      assert.notEqual(memory.buffer, oldBuffer);
      const rebase = (v: Floats) => viewOn(dtype, memory.buffer, v.byteOffset, v.length);
      const rebased = { x: rebase(c.x), w1: rebase(c.w1), b1: rebase(c.b1), dz1: rebase(c.dz1) };
      assert.deepEqual(bits(hiddenForward(blas(dtype), arena, dtype, s, rebased)), before);
    });

    it(`${dtype}: the transposed copy of W1 follows every change of W1`, { skip }, () => {
      const s = { rows: 569, n: 30, h: 16, xOff: 0 };
      assert.ok(transposesW1(s.rows, s.n, s.h));
      const arena = wasmArena(sharedMemory());
      const c = makeCase(arena, dtype, s, 8);
      const k = blas(dtype);
      for (let round = 0; round < 3; round++) {
        c.w1[round * 31] += 0.5;
        c.w1[c.w1.length - 1 - round] -= 0.25;
        const got = hiddenForward(k, arena, dtype, s, c);
        const want = hiddenForward(jsKernels, arena, dtype, s, c);
        assertClose(got, want, forwardScale(s, c), TOLERANCE[dtype], `round ${round}`);
      }
    });

    it(`${dtype}: ReLU of special values gives the js bits`, { skip }, () => {
      const special = [NaN, -Infinity, Infinity, 1.5e308, -1.5e308, -0, 0, -1e-310, 1e-310, 3, -3];
      const h = special.length;
      const b1 = arrayType(dtype).from(special);
      const [x, w1] = [new (arrayType(dtype))([1]), new (arrayType(dtype))(h)];
      const [got, want] = [blas(dtype), jsKernels].map((k) => {
        const a1 = new (arrayType(dtype))(h);
        k.hiddenForward(x, 0, 1, 1, h, w1, b1, a1);
        return bits(a1);
      });
      assert.deepEqual(got, want);
    });

    it(`${dtype}: refuses arrays of the wrong precision or length`, { skip }, () => {
      const k = blas(dtype);
      const Type = arrayType(dtype);
      const Other = arrayType(dtype === "f32" ? "f64" : "f32");
      const [rows, n, h] = [4, 3, 2];
      const a1 = new Type(rows * h);
      assert.throws(
        () => k.hiddenForward(new Other(rows * n), 0, rows, n, h, new Type(h * n), new Type(h), a1),
        TypeError,
      );
      assert.throws(
        () => k.hiddenForward(new Type(rows * n), 1, rows, n, h, new Type(h * n), new Type(h), a1),
        RangeError,
      );
      assert.throws(
        () => k.weightGradient(new Type(rows * h), new Type(rows * n), 0, rows, n, h, new Type(5)),
        RangeError,
      );
      assert.throws(
        () => k.weightGradient(new Type(0), new Type(0), 0, -1, n, h, new Type(h * n)),
        RangeError,
      );
    });
  }

  it("runs in two workers at once, each loading the library itself", { skip }, async () => {
    const memory = sharedMemory();
    const s = { rows: 256, n: 128, h: 64, xOff: 0 };
    const dtype: Dtype = "f32";
    const arena = wasmArena(memory);
    const workers = 2;
    const jobs = Array.from({ length: workers }, (_, w) => {
      const c = makeCase(arena, dtype, s, 10 + w);
      return { c, a1: arena.alloc(dtype, s.rows * s.h), gw1: arena.alloc(dtype, s.h * s.n) };
    });
    // Workers start seconds apart at worst; the gate holds each until all have loaded OpenBLAS,
    // so that their GEMMs overlap. Each checks every repeat against its first result.
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const blasModule = JSON.stringify(import.meta.resolve("../src/kernels/blas.ts"));
    const source = `
      import { createBlasKernels } from ${blasModule};
      self.onmessage = ({ data: { memory, gate, workers, s, path, at } }) => {
        const k = createBlasKernels("f32", path);
        const [x, w1, b1, dz1, a1, gw1] = at.map(([offset, length]) =>
          new Float32Array(memory.buffer, offset, length));
        Atomics.add(gate, 0, 1);
        for (let v; (v = Atomics.load(gate, 0)) < workers;) Atomics.wait(gate, 0, v, 10);
        const words = [a1, gw1].map((v) => new Int32Array(v.buffer, v.byteOffset, v.length));
        let first, mismatches = 0;
        for (let i = 0; i < 100; i++) {
          k.hiddenForward(x, s.xOff, s.rows, s.n, s.h, w1, b1, a1);
          k.weightGradient(dz1, x, s.xOff, s.rows, s.n, s.h, gw1);
          if (first === undefined) first = words.map((v) => v.slice());
          else if (words.some((v, j) => v.some((word, e) => word !== first[j][e]))) mismatches++;
        }
        self.postMessage(mismatches);
      };`;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const spawned = jobs.map(() => new Worker(url, { type: "module" }));
    let mismatches: number[];
    try {
      mismatches = await Promise.all(
        spawned.map((worker, w) =>
          new Promise<number>((resolve, reject) => {
            worker.onmessage = (e) => resolve(e.data);
            worker.onerror = (e) => reject(new Error(`worker ${w}: ${e.message}`));
            const { c, a1, gw1 } = jobs[w];
            const at = [c.x, c.w1, c.b1, c.dz1, a1, gw1].map((v) => [v.byteOffset, v.length]);
            worker.postMessage({ memory, gate, workers, s, path: libraryPath, at });
          })
        ),
      );
    } finally {
      for (const worker of spawned) worker.terminate();
      URL.revokeObjectURL(url);
    }
    assert.deepEqual(mismatches, [0, 0]);
    for (const { c, a1, gw1 } of jobs) {
      assert.deepEqual(bits(a1), bits(hiddenForward(blas(dtype), arena, dtype, s, c)));
      assert.deepEqual(bits(gw1), bits(weightGradient(blas(dtype), arena, dtype, s, c)));
    }
  });
});
