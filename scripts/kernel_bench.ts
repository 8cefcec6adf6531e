/**
 * Micro benchmark of the kernels on one thread: GFLOP/s of each kernel and of one whole chunk
 * gradient (hiddenForward + outputLogits + outputLoss + outputBackward + weightGradient, counted as
 * 4·rows·n·h), wasm against js, f32 and f64.
 *
 *   deno run -A scripts/kernel_bench.ts [--rows=512 --n=256 --h=64] [--ms=300] [--plain] [--js=false]
 *   bun scripts/kernel_bench.ts ...
 *   deno run -A scripts/kernel_bench.ts --rows=32 --n=30 --h=16 --dtype=f64   (the bundled data
 *     set's chunks: 569 rows full batch are 18 chunks of 32 rows)
 *
 * --dtype=f32 or f64 limits the run to one precision. --plain forces the plain-SIMD build.
 * --tiles='[{"hfU":2},{"wgJ":4,"wgK":2}]' instead compares tile choices (overrides of
 * DEFAULT_TILES in src/kernels/wasm/gen.ts, for both precisions) on hiddenForward and
 * weightGradient (or the kernels named by --kernels=outputLoss,chunk,...), timing the variants in
 * turn, round after round, so that the machine's slow spells hit them alike. Times are process
 * CPU time, the best of many batches: the machine is shared and noisy. Each kernel's % is of a
 * register-only loop of 12 chains a ← a·x + y timed in alternation with it: the machine's
 * multiply-add peak at that moment under V8 (fused); JavaScriptCore does not fuse, and its chain
 * then runs through a multiply and an add.
 */
import process from "node:process";
import { jsKernels } from "../src/kernels/js.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import {
  compileWasmKernels,
  instantiateWasmKernels,
  wasmKernelsVariant,
} from "../src/kernels/wasm.ts";
import { DEFAULT_TILES, type Tiles } from "../src/kernels/wasm/gen.ts";
import { assemble } from "./build_wasm.ts";
import wabtInit from "wabt";
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
const withJs = arg("js", "true") === "true";
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

/**
 * Seconds per call of `f` and of `g`: the best of 20 batches of ~ms/20 each, the two alternating
 * so that their ratio holds even when the machine's speed drifts.
 */
function time2(f: () => void, g: () => void): [number, number] {
  const [rf, rg] = [batchSize(f), batchSize(g)];
  let [bf, bg] = [Infinity, Infinity];
  for (let b = 0; b < 20; b++) {
    bf = Math.min(bf, batch(f, rf));
    bg = Math.min(bg, batch(g, rg));
  }
  return [bf, bg];
}

/**
 * The machine's SIMD multiply-add peak at the moment: 12 independent accumulators in registers,
 * no memory traffic (4·2 flops per f32x4 step, 2·2 per f64x2 step).
 */
async function peakKernels(relaxed: boolean): Promise<Record<Dtype, [number, () => void]>> {
  const wabt = await wabtInit();
  const iters = 100_000;
  const fn = (t: "f32" | "f64") => {
    const v = t === "f32" ? "f32x4" : "f64x2";
    const acc = Array.from({ length: 12 }, (_, i) => `$a${i}`);
    const madd = (a: string) =>
      relaxed
        ? `(local.set ${a} (${v}.relaxed_madd (local.get ${a}) (local.get $x) (local.get $y)))`
        : `(local.set ${a} (${v}.add (${v}.mul (local.get ${a}) (local.get $x)) (local.get $y)))`;
    return `(func (export "${t}") (param $n i32) (result ${t})
      (local $x v128) (local $y v128) ${acc.map((a) => `(local ${a} v128)`).join(" ")}
      (local.set $x (${v}.splat (${t}.const 0.5))) (local.set $y (${v}.splat (${t}.const 0.25)))
      (loop $l ${acc.map(madd).join(" ")}
        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (${v}.extract_lane 0 ${
      acc.reduce((s, a) => `(${v}.add ${s} (local.get ${a}))`, "(local.get $x)")
    }))`;
  };
  const mod = wabt.parseWat("peak.wat", `(module ${fn("f32")} ${fn("f64")})`, {
    simd: true,
    relaxed_simd: true,
  });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(mod.toBinary({}).buffer.slice()))
    .exports as Record<Dtype, (n: number) => number>;
  mod.destroy();
  return {
    f32: [iters * 12 * 8, () => ex.f32(iters)],
    f64: [iters * 12 * 4, () => ex.f64(iters)],
  };
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
const ordinary = (dtype: Dtype) => (len: number): Floats =>
  dtype === "f32" ? new Float32Array(len) : new Float64Array(len);

if (tileVariants) {
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
} else {
  const variant = plain ? "plain" : wasmKernelsVariant();
  console.log(
    `${runtime}; rows=${rows} n=${n} h=${h}; wasm ${variant} SIMD; GFLOP/s, and in % of the ` +
      "register-only multiply-add peak timed alongside (the machine's speed drifts)",
  );
  const module = plain ? new WebAssembly.Module(await assemble(false)) : await compileWasmKernels();
  const peak = await peakKernels(!plain);
  for (const dtype of dtypes) {
    const w = calls(instantiateWasmKernels(module, memory, dtype), arrays(onMemory(dtype)));
    const j = calls(jsKernels, arrays(ordinary(dtype)));
    const [peakFlops, peakRun] = peak[dtype];
    for (let i = 0; i < w.length; i++) {
      const [name, flops, f] = w[i];
      const [tw, tp] = time2(f, peakRun);
      const gw = flops / tw / 1e9;
      const share = ((100 * gw) / (peakFlops / tp / 1e9)).toFixed(0).padStart(3);
      let line = `${dtype} ${name.padEnd(15)} wasm ${gw.toFixed(2).padStart(7)} (${share}%)`;
      if (withJs) {
        const gj = flops / time2(j[i][2], peakRun)[0] / 1e9;
        line += `   js ${gj.toFixed(2).padStart(6)}   ×${(gw / gj).toFixed(1)}`;
      }
      console.log(line);
    }
    const [, tp] = time2(peakRun, peakRun);
    console.log(
      `${dtype} ${"peak".padEnd(15)} wasm ${(peakFlops / tp / 1e9).toFixed(2).padStart(7)}`,
    );
  }
}
