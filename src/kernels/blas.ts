import { environmentVariable } from "../runtime/process.ts";
import type { Dtype, Floats } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import {
  addressOf,
  ffiAllowed,
  type NativeLibrary,
  type NativePointer,
  openLibrary,
  pointerArgument,
} from "../runtime/ffi.ts";
import { jsKernelsWithBiasRelu } from "./js.ts";
import type { Kernels, KernelsWithBiasRelu } from "./kernels.ts";

/**
 * Where OpenBLAS usually lives, pthread builds first. On Debian and Ubuntu the first entry of an
 * architecture is the alternatives link that `libopenblas0-pthread` (or its openmp/serial
 * siblings) sets up; the second is the pthread build itself, in case the link points elsewhere.
 */
const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib64/libopenblasp.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

/**
 * The OpenBLAS shared library to load: `SHARDNET_BLAS_LIB` when set (taken as given, so that a
 * wrong override fails loudly in `createBlasKernels` instead of falling back), else the first
 * standard location that exists, else null.
 *
 * @example
 * ```ts
 * const path = findBlasLibrary();
 * const kernels = path === null ? jsKernels : createBlasKernels("f64", path);
 * ```
 */
export function findBlasLibrary(): string | null {
  const override = environmentVariable("SHARDNET_BLAS_LIB");
  if (override) return override;
  return CANDIDATES.find(exists) ?? null;
}

// Deno's node:fs, were it imported for this one call, would take each worker thread that loads
// the kernels tens of milliseconds to start; Bun's is built in.
const nodeFs: typeof import("node:fs") | null = typeof Deno === "undefined"
  ? await import("node:fs")
  : null;

function exists(path: string): boolean {
  if (nodeFs !== null) return nodeFs.existsSync(path);
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

/** cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc). */
function gemmSymbol<S extends "f32" | "f64">(scalar: S) {
  return {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      scalar,
      "pointer",
      "i32",
      "pointer",
      "i32",
      scalar,
      "pointer",
      "i32",
    ],
    result: "void",
  } as const;
}

const SYMBOLS = {
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  cblas_sgemm: gemmSymbol("f32"),
  cblas_dgemm: gemmSymbol("f64"),
} as const;

type Blas = NativeLibrary<typeof SYMBOLS>;

// Per thread: every worker has its own module instance, so each opens the library once (dlopen
// is refcounted: one copy per process).
const opened = new Map<string, Blas>();

/*
 * One BLAS thread per calling thread. Our parallelism is one worker thread per core, each
 * calling GEMM on its own chunk; OpenBLAS's own pool on top would oversubscribe the cores.
 *
 * openblas_set_num_threads is process-wide (it stores a global; OpenBLAS maintainers confirm in
 * issues #2809 and #3917), so every worker setting it to 1 is idempotent; with 1 it starts no
 * threads. With the global count at 1, gemm skips the thread server (OpenMP builds included: the
 * count is tested before OpenMP is consulted) and runs entirely in the calling thread. The only
 * shared state it then touches is the buffer pool of blas_memory_alloc, which threaded builds
 * (USE_THREAD=1, as Debian's libopenblas0-pthread is) guard with a lock. So concurrent calls from
 * several of our workers are safe and run in parallel; the tests run GEMMs on two workers at once
 * and compare the bits. Sequential builds (libopenblas0-serial) are thread-safe only if compiled
 * with USE_LOCKING=1, which cannot be queried at run time: use the pthread package.
 */
function load(path: string): Blas {
  let blas = opened.get(path);
  if (blas === undefined) {
    if (!ffiAllowed(path)) {
      throw new UsageError(
        `the blas backend calls OpenBLAS through FFI, which this runtime does not allow here: ` +
          `run Deno with --allow-ffi, or choose the wasm backend`,
      );
    }
    try {
      blas = openLibrary(path, SYMBOLS);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      if (path === environmentVariable("SHARDNET_BLAS_LIB")) {
        // The user's setting, not our fault: one line that names it.
        throw new UsageError(
          `SHARDNET_BLAS_LIB=${path}: cannot load OpenBLAS from it (${reason}); set it to the ` +
            `libopenblas shared library, or unset it to search the usual places`,
        );
      }
      throw new Error(`cannot load OpenBLAS from ${path}: ${reason}`, { cause: e });
    }
    blas.openblas_set_num_threads(1);
    opened.set(path, blas);
  }
  return blas;
}

const MAX_INT32 = 0x7fffffff;

function checkDims(rows: number, n: number, h: number): void {
  for (const d of [rows, n, h]) {
    if (!Number.isInteger(d) || d < 0 || d > MAX_INT32) {
      throw new RangeError(`blas kernels: dimension ${d} is not an integer in [0, 2^31)`);
    }
  }
}

/**
 * The array last passed at one argument position and the address of its first element: callers
 * pass the same arrays call after call, and a view's buffer, offset and address never change.
 * Reading them anew costs little alone, but on Deno a call whose arguments took `.buffer` and a
 * weak-map lookup per array ran the kernels after the GEMM measurably slower (see
 * docs/performance.md), so each array is looked up once per position.
 */
interface Slot {
  array: Floats | null;
  address: number;
}

/**
 * Most elements of W1 that hiddenForward copies transposed: past this the copy costs more than the
 * NoTrans × NoTrans product saves (see {@link transposesW1}).
 */
const MAX_TRANSPOSED = 2048;

/**
 * Whether hiddenForward multiplies X by a transposed copy of W1 (NoTrans × NoTrans) rather than by
 * W1 read transposed (NoTrans × Trans). Both sum every output over k in the same way for the
 * shapes measured here, but not for all (OpenBLAS packs the two differently), so the choice must
 * depend on the call's shape alone: every thread, process and worker count then takes the same
 * path for the same chunk. OpenBLAS 0.3.21 multiplies small W1 far faster untransposed once the
 * product is past its small-matrix kernels (about 2^18 multiply-adds); at L's 256 × 64 the copy
 * and the untransposed product are the slower ones.
 */
export function transposesW1(rows: number, n: number, h: number): boolean {
  return n * h <= MAX_TRANSPOSED && rows * n * h >= 1 << 18;
}

/**
 * Creates the `blas` backend: hiddenForward is one cblas_sgemm or cblas_dgemm followed by
 * `base.biasRelu`, weightGradient is one GEMM; the other kernels are O(rows·h) or O(P·chunks) and
 * come from `base` unchanged. Arrays may be ordinary typed arrays or views on a SharedArrayBuffer or a
 * shared WebAssembly.Memory; they must have the precision of `dtype`. Where {@link transposesW1}
 * says so, hiddenForward first copies W1 transposed into a buffer of this instance (at most
 * 2048 elements), which is why one instance must not be called from two threads at once (no
 * instance can be: each thread creates its own).
 *
 * Results are deterministic (same inputs and shapes, same bits, wherever the arrays sit in
 * memory) but not bit-equal to `js`: OpenBLAS sums in its own blocked order and, for f32, in
 * float32. That order depends on the OpenBLAS version and the CPU kernel it picks at load, so
 * bits may differ between machines.
 *
 * @param libraryPath the OpenBLAS file; defaults to {@link findBlasLibrary}.
 * @param base the kernels for the O(rows·h) operations that gain nothing from BLAS; the
 *   reference by default, the wasm kernels in training (they are several times faster there).
 * @throws Error when no library is found or it cannot be loaded.
 *
 * @example
 * ```ts
 * const k = createBlasKernels("f32");
 * k.hiddenForward(x, 0, rows, n, h, w1, b1, a1);
 * ```
 */
export function createBlasKernels(
  dtype: Dtype,
  libraryPath?: string,
  base: KernelsWithBiasRelu = jsKernelsWithBiasRelu,
): Kernels {
  const path = libraryPath ?? findBlasLibrary();
  if (path === null) {
    throw new Error(
      "OpenBLAS not found: install libopenblas0-pthread or set SHARDNET_BLAS_LIB to the library file",
    );
  }
  const blas = load(path);
  const gemm = dtype === "f32" ? blas.cblas_sgemm : blas.cblas_dgemm;
  const bytes = dtype === "f32" ? 4 : 8;
  // Shared memory: its backing store never moves or detaches, so OpenBLAS may read it.
  const transposedBuffer = new SharedArrayBuffer(MAX_TRANSPOSED * bytes);
  const w1t: Floats = dtype === "f32"
    ? new Float32Array(transposedBuffer)
    : new Float64Array(transposedBuffer);
  const w1tAddress = pointerArgument(addressOf(w1t));

  // Native code has no bounds checks: a short array or a Float64Array given to sgemm would
  // corrupt memory silently, so both are refused, and the range checked on every call.
  const at = (
    slot: Slot,
    name: string,
    a: Floats,
    offset: number,
    length: number,
  ): NativePointer => {
    if (a !== slot.array) {
      if (a.BYTES_PER_ELEMENT !== bytes) {
        throw new TypeError(`blas ${dtype} kernels: ${name} is a ${a.constructor.name}`);
      }
      slot.array = a;
      slot.address = addressOf(a);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + length > a.length) {
      throw new RangeError(
        `blas kernels: ${name} needs ${length} values from ${offset} but has ${a.length}`,
      );
    }
    return pointerArgument(slot.address + offset * bytes);
  };
  const slots = (count: number): Slot[] =>
    Array.from({ length: count }, () => ({ array: null, address: 0 }));
  const [fx, fw1, fb1, fa1] = slots(4);
  const [gdz1, gx, ggw1] = slots(3);

  const { biasRelu, ...light } = base;
  return {
    ...light,

    hiddenForward(x, xOff, rows, n, h, w1, b1, a1) {
      checkDims(rows, n, h);
      const xAt = at(fx, "x", x, xOff, rows * n);
      const w1At = at(fw1, "w1", w1, 0, h * n);
      at(fb1, "b1", b1, 0, h);
      const a1At = at(fa1, "a1", a1, 0, rows * h);
      // Leading dimensions of at least 1 keep n = 0 legal for BLAS; with K = 0 it still
      // writes C = 0 (beta = 0), matching the reference. beta = 0 also means C is never read,
      // so stale NaNs in A1 cannot leak in.
      const ldx = Math.max(1, n);
      if (transposesW1(rows, n, h)) {
        // W1ᵀ[k, j] = W1[j, k]: n × h row-major.
        for (let j = 0; j < h; j++) {
          for (let k = 0; k < n; k++) w1t[k * h + j] = w1[j * n + k];
        }
        gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, rows, h, n, 1, xAt, ldx, w1tAddress, h, 0, a1At, h);
      } else {
        gemm(
          ROW_MAJOR,
          NO_TRANS,
          TRANS,
          rows,
          h,
          n,
          1,
          xAt,
          ldx,
          w1At,
          ldx,
          0,
          a1At,
          Math.max(1, h),
        );
      }
      biasRelu(a1, rows, h, b1);
    },

    weightGradient(dz1, x, xOff, rows, n, h, gw1) {
      checkDims(rows, n, h);
      const dz1At = at(gdz1, "dz1", dz1, 0, rows * h);
      const xAt = at(gx, "x", x, xOff, rows * n);
      const gw1At = at(ggw1, "gw1", gw1, 0, h * n);
      gemm(
        ROW_MAJOR,
        TRANS,
        NO_TRANS,
        h,
        n,
        rows,
        1,
        dz1At,
        Math.max(1, h),
        xAt,
        Math.max(1, n),
        0,
        gw1At,
        Math.max(1, n),
      );
    },
  };
}
