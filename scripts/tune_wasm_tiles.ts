/**
 * Compares tile choices of the wasm kernels (overrides of DEFAULT_TILES in
 * src/kernels/wasm/gen.ts, for both precisions): GFLOP/s of hiddenForward and weightGradient (or
 * the kernels named by --kernels=outputLoss,chunk,...) for each variant, timed in turn, round after
 * round, so that the machine's slow spells hit them alike. Times are process CPU time, the best of
 * many batches: the machine is shared and noisy. Each kernel's speed as shipped, against the other
 * backends, is `deno task bench`'s micro-benchmark section; this script is for choosing the tiles.
 *
 *   deno run -A scripts/tune_wasm_tiles.ts --tiles='[{"hfU":2},{"wgJ":4,"wgK":2}]'
 *     [--rows=512 --n=256 --h=64] [--ms=300] [--dtype=f32] [--plain]
 *   bun scripts/tune_wasm_tiles.ts --tiles=...
 *
 * --dtype=f32 or f64 limits the run to one precision; --plain assembles the plain-SIMD build.
 */
import process from "node:process";
import type { Kernels } from "../src/kernels/kernels.ts";
import { instantiateWasmKernels } from "../src/kernels/wasm.ts";
import { DEFAULT_TILES, type Tiles } from "../src/kernels/wasm/gen.ts";
import { assemble } from "./build_wasm.ts";
import type { Dtype, Floats } from "../src/dtype.ts";
import { runtimeName } from "../src/runtime/process.ts";

function arg(name: string, dflt: string): string {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`) || s === `--${name}`);
  if (!a) return dflt;
  return a.includes("=") ? a.slice(name.length + 3) : "true";
}

const rows = Number(arg("rows", "512"));
const n = Number(arg("n", "256"));
const h = Number(arg("h", "64"));
const ms = Number(arg("ms", "300"));
const plain = arg("plain", "false") === "true";
const tileVariants: Partial<Tiles>[] | null = JSON.parse(arg("tiles", "null"));
const tileKernels = arg("kernels", "hiddenForward,weightGradient").split(",");
const dtypes = arg("dtype", "f32,f64").split(",") as Dtype[];

/** Process CPU seconds: unlike wall time, it does not count time the cores spent on others. */
function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** How many calls of `f` take about ms/20 of CPU. */
function batchSize(f: () => void): number {
  f();
  for (let reps = 1;; reps *= 2) {
    const t0 = cpu();
    for (let i = 0; i < reps; i++) f();
    if ((cpu() - t0) * 1000 > ms / 20) return reps;
  }
}

/** CPU seconds per call of `f`, the best of `reps` calls at a time. */
function batch(f: () => void, reps: number): number {
  const t0 = cpu();
  for (let i = 0; i < reps; i++) f();
  return (cpu() - t0) / reps;
}

interface Arrays {
  x: Floats;
  w1: Floats;
  b1: Floats;
  w2: Floats;
  a1: Floats;
  z: Floats;
  y: Floats;
  gw1: Floats;
  gw2: Floats;
  gb1: Floats;
  gb2: Floats;
}

function arrays(alloc: (len: number) => Floats): Arrays {
  const a: Arrays = {
    x: alloc(rows * n),
    w1: alloc(h * n),
    b1: alloc(h),
    w2: alloc(h),
    a1: alloc(rows * h),
    z: alloc(rows),
    y: alloc(rows),
    gw1: alloc(h * n),
    gw2: alloc(h),
    gb1: alloc(h),
    gb2: alloc(1),
  };
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const v of [a.x, a.w1, a.b1, a.w2]) for (let i = 0; i < v.length; i++) v[i] = rnd();
  for (let i = 0; i < rows; i++) a.y[i] = rnd() > 0 ? 1 : 0;
  return a;
}

/** Named calls of the kernels on `a`, with their flop counts. */
function calls(k: Kernels, a: Arrays): [string, number, () => void][] {
  const stats = new Float64Array(2);
  const mnh = rows * n * h;
  return [
    ["hiddenForward", 2 * mnh, () => k.hiddenForward(a.x, 0, rows, n, h, a.w1, a.b1, a.a1)],
    ["outputLogits", 2 * rows * h, () => k.outputLogits(a.a1, rows, h, a.w2, 0.1, a.z)],
    ["outputLoss", 8 * rows, () => k.outputLoss(a.z, a.y, 0, rows, stats)],
    [
      "outputBackward",
      4 * rows * h,
      () => k.outputBackward(a.a1, a.z, rows, h, a.w2, a.gw2, a.gb1, a.gb2),
    ],
    ["weightGradient", 2 * mnh, () => k.weightGradient(a.a1, a.x, 0, rows, n, h, a.gw1)],
    ["chunk", 4 * mnh, () => {
      k.hiddenForward(a.x, 0, rows, n, h, a.w1, a.b1, a.a1);
      k.outputLogits(a.a1, rows, h, a.w2, 0.1, a.z);
      k.outputLoss(a.z, a.y, 0, rows, stats);
      k.outputBackward(a.a1, a.z, rows, h, a.w2, a.gw2, a.gb1, a.gb2);
      k.weightGradient(a.a1, a.x, 0, rows, n, h, a.gw1);
    }],
  ];
}

const runtime = runtimeName();
const memory = new WebAssembly.Memory({ initial: 1024, maximum: 16384, shared: true });
let bump = 0;
const onMemory = (dtype: Dtype) => (len: number): Floats => {
  const buf = memory.buffer;
  const v = dtype === "f32" ? new Float32Array(buf, bump, len) : new Float64Array(buf, bump, len);
  bump += Math.ceil((len * v.BYTES_PER_ELEMENT) / 64) * 64;
  return v;
};

if (tileVariants === null || tileVariants.length === 0) {
  console.error("tune_wasm_tiles: give the variants to compare, e.g. --tiles='[{\"hfU\":2},{}]'");
  process.exit(2);
}
console.log(`${runtime}; rows=${rows} n=${n} h=${h}; tile variants, GFLOP/s`);
for (const dtype of dtypes) {
  const a = arrays(onMemory(dtype));
  const ks = [];
  for (const v of tileVariants) {
    const tiles = { f32: { ...DEFAULT_TILES.f32, ...v }, f64: { ...DEFAULT_TILES.f64, ...v } };
    const module = new WebAssembly.Module(await assemble(!plain, tiles));
    ks.push(calls(instantiateWasmKernels(module, memory, dtype), a));
  }
  for (const name of tileKernels) {
    const fs = ks.map((c) => c.find(([nm]) => nm === name)!);
    const reps = batchSize(fs[0][2]);
    const best = fs.map(() => Infinity);
    for (let round = 0; round < 40; round++) {
      fs.forEach(([, , f], i) => (best[i] = Math.min(best[i], batch(f, reps))));
    }
    tileVariants.forEach((v, i) => {
      const g = (fs[i][1] / best[i] / 1e9).toFixed(2).padStart(7);
      console.log(`${dtype} ${name.padEnd(15)} ${g}  ${JSON.stringify(v)}`);
    });
  }
}
