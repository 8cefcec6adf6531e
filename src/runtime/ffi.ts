/**
 * Native-library calls that run unchanged on Deno and Bun: the one module that knows how each
 * runtime spells `dlopen` and how it turns a typed array into an address.
 *
 * Addresses are plain numbers (x86-64 and arm64 user-space addresses stay below 2^53, so a
 * number holds them exactly): callers compute `addressOf(view) + byteOffset` and pass the number
 * through `pointerArgument`. On Bun `ptr` parameters take the number directly. On Deno pointer
 * parameters are declared `usize` and take a BigInt: given a number, Deno's fast call path does
 * not apply, and V8's optimized code for a function that makes the call deoptimizes at it
 * ("not a BigInt") and is optimized again, over and over, which kept a compiler thread busy for
 * a third of a small-data sweep's time.
 *
 * Deno needs `--allow-ffi` (and, since Deno 2, no `--unstable-ffi`). Node has no FFI.
 */
import { currentRuntime } from "./process.ts";

/** A C parameter type. `pointer` is an address passed as a number; see {@link addressOf}. */
export type NativeParameter = "i32" | "f32" | "f64" | "pointer";

/** A C result type. */
export type NativeResult = "i32" | "void";

/** The signature of one exported C function. */
export interface SymbolSpec {
  readonly parameters: readonly NativeParameter[];
  readonly result: NativeResult;
}

/** An address as a `pointer` parameter takes it: see {@link pointerArgument}. */
export type NativePointer = number | bigint;

/** One number per parameter, an address for a `pointer`. */
type Numbers<P extends readonly NativeParameter[]> = {
  [I in keyof P]: P[I] extends "pointer" ? NativePointer : number;
};

/** The callable form of a {@link SymbolSpec}: every parameter is a number or an address. */
export type NativeFunction<S extends SymbolSpec> = (
  ...args: Numbers<S["parameters"]>
) => S["result"] extends "void" ? void : number;

/** The functions of a library opened with {@link openLibrary}, by symbol name. */
export type NativeLibrary<T extends Record<string, SymbolSpec>> = {
  readonly [K in keyof T]: NativeFunction<T[K]>;
};

/** The part of `bun:ffi` used here; declared locally because Deno type-checks this file. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: number[]) => number | undefined> };
  ptr(view: ArrayBufferView): number;
}

const isDeno = currentRuntime() === "deno";
const isBun = !isDeno;

// A variable specifier keeps Deno's module graph from trying to resolve the `bun:` scheme;
// top-level await keeps `openLibrary` and `addressOf` synchronous for callers.
const bunSpecifier = "bun:ffi";
const bunFfi: BunFfi | null = isBun ? await import(bunSpecifier) : null;

/**
 * `address` (from {@link addressOf}) as a `pointer` parameter takes it on this runtime.
 *
 * @example
 * ```ts
 * gemm(..., pointerArgument(addressOf(x) + offset * 4), ...);
 * ```
 */
export const pointerArgument: (address: number) => NativePointer = isDeno
  ? BigInt
  : (address) => address;

/**
 * Whether this thread may open the native library at `path`: on Deno, when FFI access to it is
 * granted (`--allow-ffi`); on Bun, always; elsewhere, never.
 *
 * @example
 * ```ts
 * if (!ffiAllowed(path)) console.log("run Deno with --allow-ffi");
 * ```
 */
export function ffiAllowed(path: string): boolean {
  if (isDeno) return Deno.permissions.querySync({ name: "ffi", path }).state === "granted";
  return bunFfi !== null;
}

/**
 * Opens a shared library and binds the named functions. The library stays loaded for the life of
 * the thread that opened it: kernels call into it until the worker exits.
 *
 * @example
 * ```ts
 * const libm = openLibrary("libm.so.6", { ilogb: { parameters: ["f64"], result: "i32" } });
 * libm.ilogb(1024); // 10
 * ```
 */
export function openLibrary<const T extends Record<string, SymbolSpec>>(
  path: string,
  symbols: T,
): NativeLibrary<T> {
  const names = Object.keys(symbols);
  if (isDeno) {
    const spec: Record<string, Deno.ForeignFunction> = {};
    for (const name of names) {
      spec[name] = {
        parameters: symbols[name].parameters.map((p) => p === "pointer" ? "usize" : p),
        result: symbols[name].result,
      };
    }
    return Deno.dlopen(path, spec).symbols as unknown as NativeLibrary<T>;
  }
  if (bunFfi !== null) {
    const spec: Record<string, { args: string[]; returns: string }> = {};
    for (const name of names) {
      spec[name] = {
        args: symbols[name].parameters.map((p) => p === "pointer" ? "ptr" : p),
        returns: symbols[name].result,
      };
    }
    return bunFfi.dlopen(path, spec).symbols as unknown as NativeLibrary<T>;
  }
  throw new Error("native libraries need Deno (with --allow-ffi) or Bun; this runtime has no FFI");
}

// Keyed by the buffer object, not the view: one native lookup per buffer rather than per call.
// A WebAssembly.Memory that grows hands out a new buffer object, so the key changes with it.
const baseAddresses = new WeakMap<ArrayBufferLike, number>();

function bufferAddress(buffer: ArrayBufferLike): number {
  const bytes = new Uint8Array(buffer);
  if (isDeno) {
    // The types admit only ArrayBuffer, but views on a SharedArrayBuffer (a shared
    // WebAssembly.Memory among them) work: the call only reads the backing store's address.
    const pointer = Deno.UnsafePointer.of(bytes as Uint8Array<ArrayBuffer>);
    return Number(Deno.UnsafePointer.value(pointer));
  }
  if (bunFfi !== null) return bunFfi.ptr(bytes);
  throw new Error("addresses of typed arrays need Deno (with --allow-ffi) or Bun");
}

/**
 * The address of a typed array's first element, as a number to pass for a `pointer` parameter.
 * Valid while the array's buffer is alive and not detached; a shared or WebAssembly buffer
 * keeps its address for good (growing a memory reserves in place, then issues a new buffer).
 *
 * @example
 * ```ts
 * const a = new Float64Array(8);
 * addressOf(a.subarray(2)) - addressOf(a); // 16
 * ```
 */
export function addressOf(view: ArrayBufferView): number {
  // Reading `.buffer` before taking any address matters: both engines keep small typed arrays
  // inside the movable GC heap until their buffer is first requested, which pins them.
  const buffer = view.buffer;
  // Bun refuses the address of empty memory, and native code never dereferences it. Not cached:
  // a growable buffer that is empty now may be allocated later.
  if (buffer.byteLength === 0) return 0;
  let base = baseAddresses.get(buffer);
  if (base === undefined) {
    base = bufferAddress(buffer);
    baseAddresses.set(buffer, base);
  }
  return base + view.byteOffset;
}
