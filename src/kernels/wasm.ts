/**
 * The `wasm` kernel backend: WebAssembly 128-bit SIMD on one shared WebAssembly.Memory.
 *
 * Every array passed to these kernels must be a view on the memory given at instantiation (the
 * module imports it, shared and at least one page; the arrays become byte addresses in it), of the
 * run's precision. The only exception is outputLoss's `stats`, which may live anywhere. An array is
 * checked (buffer, element size) when it first appears at an argument position and recognised by
 * identity after that; every call checks that shapes are integers and that each range lies inside
 * its view. So a wrong argument throws instead of reading or writing someone else's memory, for
 * ~25 ns per call.
 *
 * Kernel source: src/kernels/wasm/gen.ts; binaries: src/kernels/wasm/kernels_bin.ts
 * (rebuild with scripts/build_wasm.ts). Two builds of the same kernels: `relaxed` uses relaxed-SIMD
 * `relaxed_madd`, which an engine may fuse into one rounding or not (V8 fuses, JavaScriptCore does
 * not), so its bits depend on the runtime; `plain` multiplies then adds, the same bits everywhere.
 */
import type { Dtype, Floats } from "../dtype.ts";
import type { KernelsWithBiasRelu } from "./kernels.ts";
import { PLAIN_WASM_BASE64, RELAXED_WASM_BASE64 } from "./wasm/kernels_bin.ts";

/** One of the two builds: `relaxed` (fused multiply-add where the engine fuses) or `plain`. */
export type WasmVariant = "relaxed" | "plain";

interface Exports {
  correct: WebAssembly.Global;
  [name: string]: unknown;
}

type Fn = (...args: number[]) => number;

/** The array last passed at one argument position, with its byte offset and length. */
interface Slot {
  array: Floats | null;
  base: number;
  length: number;
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const decoded: Partial<Record<WasmVariant, Uint8Array<ArrayBuffer>>> = {};

/** The bytes of `variant`, decoded once per thread. */
function bytesOf(variant: WasmVariant): Uint8Array<ArrayBuffer> {
  return decoded[variant] ??= decode(
    variant === "relaxed" ? RELAXED_WASM_BASE64 : PLAIN_WASM_BASE64,
  );
}

let relaxedValid: boolean | undefined;

/** Whether this runtime validates relaxed SIMD (Deno and Bun both do). */
export function relaxedSimdSupported(): boolean {
  return relaxedValid ??= WebAssembly.validate(bytesOf("relaxed"));
}

/** "relaxed" where the runtime accepts relaxed SIMD, else "plain": the fastest build here. */
export function wasmKernelsVariant(): WasmVariant {
  return relaxedSimdSupported() ? "relaxed" : "plain";
}

const compiled: Partial<Record<WasmVariant, Promise<WebAssembly.Module>>> = {};

/**
 * The compiled kernels module of `variant` (default: the fastest this runtime runs), compiled
 * once per thread. A worker may receive it by postMessage (where the runtime can clone modules)
 * or call this itself; either way it then instantiates it on the shared memory with
 * `instantiateWasmKernels`.
 */
export function compileWasmKernels(
  variant: WasmVariant = wasmKernelsVariant(),
): Promise<WebAssembly.Module> {
  return compiled[variant] ??= WebAssembly.compile(bytesOf(variant));
}

/**
 * Takes `module`, the kernels of `variant` compiled by `compileWasmKernels` in another thread and
 * posted here, as this thread's compiled kernels of that variant (unless it has compiled its own):
 * later `createWasmKernels` calls instantiate it instead of compiling the kernels again, and the
 * runtime's optimized code for them is shared with the thread that compiled it.
 *
 * @example
 * ```ts
 * self.onmessage = ({ data }) => adoptWasmKernels(data.variant, data.module);
 * ```
 */
export function adoptWasmKernels(variant: WasmVariant, module: WebAssembly.Module): void {
  compiled[variant] ??= Promise.resolve(module);
}

/** Kernels of precision `dtype` from an instance of `module` on `memory`, a shared memory. */
export function instantiateWasmKernels(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  dtype: Dtype,
): KernelsWithBiasRelu {
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(
      "wasm kernels: the memory must be shared (new WebAssembly.Memory({ shared: true, ... }))",
    );
  }
  if (memory.buffer.byteLength < 65536) {
    // The module declares a one-page minimum (see gen.ts); say so rather than fail to link.
    throw new RangeError("wasm kernels: the memory must have at least one page (64 KiB)");
  }
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return bindKernels(instance.exports as unknown as Exports, memory, dtype);
}

/** Compiles (once per thread) and instantiates the kernels of `variant` on `memory`. */
export async function createWasmKernels(
  memory: WebAssembly.Memory,
  dtype: Dtype,
  variant: WasmVariant = wasmKernelsVariant(),
): Promise<KernelsWithBiasRelu> {
  return instantiateWasmKernels(await compileWasmKernels(variant), memory, dtype);
}

function bindKernels(
  ex: Exports,
  memory: WebAssembly.Memory,
  dtype: Dtype,
): KernelsWithBiasRelu {
  const S = dtype === "f32" ? 4 : 8;
  const fn = (name: string) => ex[`${dtype}_${name}`] as Fn;
  const hiddenForward = fn("hiddenForward");
  const biasRelu = fn("biasRelu");
  const outputLogits = fn("outputLogits");
  const outputLoss = fn("outputLoss");
  const outputBackward = fn("outputBackward");
  const weightGradient = fn("weightGradient");
  const accumulate = fn("accumulate");
  const reduceTree = fn("reduceTree");
  const correct = ex.correct;

  // The memory's buffer object changes when the memory grows; views made on an earlier one stay
  // valid (shared memory never detaches), so every buffer seen is remembered.
  let current: ArrayBufferLike = memory.buffer;
  const earlier: ArrayBufferLike[] = [];

  /** Checks that `a` is a view on the memory of this precision and remembers it in `slot`. */
  function bind(slot: Slot, a: Floats): void {
    const buffer = a.buffer;
    if (buffer !== current && memory.buffer !== current) {
      earlier.push(current);
      current = memory.buffer;
    }
    if (buffer !== current && !earlier.includes(buffer)) {
      throw new TypeError(
        "wasm kernels: an array is not a view on the kernels' WebAssembly.Memory",
      );
    }
    if (a.BYTES_PER_ELEMENT !== S) {
      throw new TypeError(
        `wasm kernels: expected ${dtype === "f32" ? "Float32Array" : "Float64Array"}`,
      );
    }
    slot.array = a;
    slot.base = a.byteOffset;
    slot.length = a.length;
  }

  /**
   * The byte address of a[off], after checking that a holds `len` elements from there.
   * Reading `buffer`, `byteOffset` and `length` of a view on shared wasm memory costs ~10–20 ns
   * each on V8, so they are read once per array and argument position: callers pass the same
   * arrays call after call, and a view's buffer, offset and length never change.
   */
  function at(slot: Slot, a: Floats, off: number, len: number): number {
    if (a !== slot.array) bind(slot, a);
    if (!(off >= 0 && (off | 0) === off && off + len <= slot.length)) {
      throw new RangeError(
        `wasm kernels: ${len} elements from ${off} exceed an array of ${slot.length}`,
      );
    }
    return slot.base + off * S;
  }
  const slots = (count: number): Slot[] =>
    Array.from({ length: count }, () => ({ array: null, base: 0, length: 0 }));
  const [hx, hw1, hb1, ha1] = slots(4);
  const [ra1, rb1] = slots(2);
  const [la1, lw2, lz] = slots(3);
  const [sz, sy] = slots(2);
  const [ba1, bdz2, bw2, bgw2, bgb1, bgb2] = slots(6);
  const [gdz1, gx, ggw1] = slots(3);
  const [aa, ab] = slots(2);
  const [tp] = slots(1);

  /** Shapes must be non-negative int32s (the wasm side reads them as unsigned). */
  function dims(a: number, b = 0, c = 0): void {
    if (!((a | 0) === a && a >= 0 && (b | 0) === b && b >= 0 && (c | 0) === c && c >= 0)) {
      throw new RangeError(`wasm kernels: bad shape ${a}, ${b}, ${c}`);
    }
  }

  return {
    hiddenForward(x, xOff, rows, n, h, w1, b1, a1) {
      dims(rows, n, h);
      hiddenForward(
        at(hx, x, xOff, rows * n),
        rows,
        n,
        h,
        at(hw1, w1, 0, h * n),
        at(hb1, b1, 0, h),
        at(ha1, a1, 0, rows * h),
      );
    },

    biasRelu(a1, rows, h, b1) {
      dims(rows, h);
      biasRelu(at(ra1, a1, 0, rows * h), rows, h, at(rb1, b1, 0, h));
    },

    outputLogits(a1, rows, h, w2, b2, z) {
      dims(rows, h);
      outputLogits(at(la1, a1, 0, rows * h), rows, h, at(lw2, w2, 0, h), b2, at(lz, z, 0, rows));
    },

    outputLoss(z, y, yOff, rows, stats) {
      dims(rows);
      const loss = outputLoss(at(sz, z, 0, rows), at(sy, y, yOff, rows), rows);
      stats[0] += loss;
      stats[1] += correct.value;
    },

    outputBackward(a1, dz2, rows, h, w2, gw2, gb1, gb2) {
      dims(rows, h);
      outputBackward(
        at(ba1, a1, 0, rows * h),
        at(bdz2, dz2, 0, rows),
        rows,
        h,
        at(bw2, w2, 0, h),
        at(bgw2, gw2, 0, h),
        at(bgb1, gb1, 0, h),
        at(bgb2, gb2, 0, 1),
      );
    },

    weightGradient(dz1, x, xOff, rows, n, h, gw1) {
      dims(rows, n, h);
      weightGradient(
        at(gdz1, dz1, 0, rows * h),
        at(gx, x, xOff, rows * n),
        rows,
        n,
        h,
        at(ggw1, gw1, 0, h * n),
      );
    },

    accumulate(a, aOff, b, bOff, len) {
      dims(len);
      accumulate(at(aa, a, aOff, len), at(ab, b, bOff, len), len);
    },

    reduceTree(partials, stride, count, p0, p1) {
      const len = p1 - p0;
      dims(stride, count, p0);
      dims(len);
      if (count < 2 || len === 0) return;
      reduceTree(at(tp, partials, p0, (count - 1) * stride + len), stride, count, len);
    },
  };
}
