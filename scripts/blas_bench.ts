/**
 * Single-thread throughput of the `blas` backend's two GEMM kernels, against the `js` reference,
 * plus a square sgemm/dgemm for the library's ceiling on this machine.
 *
 *   deno run --allow-read --allow-env --allow-ffi scripts/blas_bench.ts
 *   bun scripts/blas_bench.ts
 */
import type { Dtype, Floats } from "../src/dtype.ts";
import { createBlasKernels, findBlasLibrary } from "../src/kernels/blas.ts";
import { jsKernels } from "../src/kernels/js.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import { addressOf, openLibrary } from "../src/runtime/ffi.ts";

const runtime = typeof Deno === "object" ? `Deno ${Deno.version.deno}` : "Bun";
const path = findBlasLibrary();
if (path === null) {
  throw new Error("OpenBLAS not found: install libopenblas0-pthread or set SHARDNET_BLAS_LIB");
}

function random(dtype: Dtype, length: number): Floats {
  const a = dtype === "f32" ? new Float32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/**
 * Fastest seconds per call over `rounds` timed batches, after one untimed batch. The minimum, not
 * the median: other processes sharing the cores only ever add time.
 */
function time(fn: () => void, budget = 0.3, rounds = 7): number {
  const start = performance.now();
  fn();
  const once = Math.max((performance.now() - start) / 1000, 1e-7);
  const calls = Math.max(1, Math.round(budget / rounds / once));
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const t = performance.now();
    for (let i = 0; i < calls; i++) fn();
    samples.push((performance.now() - t) / 1000 / calls);
  }
  return Math.min(...samples);
}

const gflops = (flops: number, seconds: number) => (flops / seconds / 1e9).toFixed(1).padStart(6);

console.log(`${runtime}, ${path}, one thread`);
for (const dtype of ["f32", "f64"] as const) {
  const blas = createBlasKernels(dtype, path);
  for (const [rows, n, h] of [[512, 256, 64], [16384, 256, 64]]) {
    const x = random(dtype, rows * n), w1 = random(dtype, h * n), b1 = random(dtype, h);
    const a1 = random(dtype, rows * h), gw1 = random(dtype, h * n);
    const flops = 2 * rows * n * h;
    const row = (name: string, k: Kernels) => {
      const forward = time(() => k.hiddenForward(x, 0, rows, n, h, w1, b1, a1));
      const gradient = time(() => k.weightGradient(a1, x, 0, rows, n, h, gw1));
      console.log(
        `${dtype} ${name.padEnd(4)} rows=${String(rows).padEnd(5)} n=${n} h=${h}: ` +
          `hiddenForward ${gflops(flops, forward)} GFLOP/s (${(forward * 1e3).toFixed(3)} ms), ` +
          `weightGradient ${gflops(flops, gradient)} GFLOP/s (${(gradient * 1e3).toFixed(3)} ms)`,
      );
    };
    row("blas", blas);
    row("js", jsKernels);
  }
  const one = random(dtype, 4);
  const overhead = time(() => blas.hiddenForward(one, 0, 1, 1, 1, one, one, one));
  console.log(`${dtype} blas rows=n=h=1: ${(overhead * 1e6).toFixed(2)} µs per call`);
}

// The square GEMM calls the library directly, without the kernels' bias pass or checks.
const gemmSpec = <S extends "f32" | "f64">(s: S) =>
  ({
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      s,
      "pointer",
      "i32",
      "pointer",
      "i32",
      s,
      "pointer",
      "i32",
    ],
    result: "void",
  }) as const;
const lib = openLibrary(path, { cblas_sgemm: gemmSpec("f32"), cblas_dgemm: gemmSpec("f64") });
const size = 1024;
for (const dtype of ["f32", "f64"] as const) {
  // The arrays stay referenced until after the timing: an address alone does not keep them alive.
  const arrays = [0, 1, 2].map(() => random(dtype, size * size));
  const [a, b, c] = arrays.map(addressOf);
  const gemm = dtype === "f32" ? lib.cblas_sgemm : lib.cblas_dgemm;
  const seconds = time(
    () => gemm(101, 111, 111, size, size, size, 1, a, size, b, size, 0, c, size),
    2,
  );
  arrays.length = 0;
  console.log(
    `${dtype === "f32" ? "sgemm" : "dgemm"} ${size}³: ${gflops(2 * size ** 3, seconds)} GFLOP/s`,
  );
}
