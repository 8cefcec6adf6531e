import type { Dtype } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import { ffiAllowed } from "../runtime/ffi.ts";
import { createBlasKernels, findBlasLibrary } from "./blas.ts";
import { jsKernels } from "./js.ts";
import type { Kernels } from "./kernels.ts";
import {
  createWasmKernels,
  instantiateWasmKernels,
  relaxedSimdSupported,
  wasmKernelsVariant,
  type WasmVariant,
} from "./wasm.ts";

/** A kernel implementation: `js` is the readable reference, the others are fast. */
export type BackendName = "js" | "wasm" | "blas";

/** What `--backend` accepts: a backend, or `auto` for the fastest one present. */
export type BackendChoice = BackendName | "auto";

/** The backends `--backend` accepts, in the order `--help` lists them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "wasm", "blas", "js"];

/**
 * The backend `choice` means on this machine: `auto` is `blas` where OpenBLAS is installed and
 * may be called (Deno needs `--allow-ffi`), and `wasm` otherwise, with a note saying why.
 *
 * @example
 * ```ts
 * const { name, note } = resolveBackend("auto");
 * ```
 */
export function resolveBackend(choice: BackendChoice): { name: BackendName; note?: string } {
  if (choice !== "auto") return { name: choice };
  const library = findBlasLibrary();
  if (library !== null && !ffiAllowed(library)) {
    return {
      name: "wasm",
      note: "no FFI access (Deno without --allow-ffi) for OpenBLAS: using the wasm backend",
    };
  }
  if (library !== null) return { name: "blas" };
  return {
    name: "wasm",
    note:
      "OpenBLAS not found (Debian: apt-get install libopenblas0-pthread): using the wasm backend",
  };
}

/**
 * Which wasm build a run uses: `relaxed` (relaxed-SIMD multiply-add, fused where the engine fuses:
 * fastest on V8, bits depend on the runtime), `plain` (multiply then add: the same bits on every
 * runtime), or `auto` for the backend's default.
 */
export type KernelVariantChoice = WasmVariant | "auto";

/** The variants `kernelVariant` accepts, in the order `--help` lists them. */
export const KERNEL_VARIANT_CHOICES: readonly KernelVariantChoice[] = ["auto", "relaxed", "plain"];

/**
 * The wasm build `choice` means for `backend` on this runtime, or null for `js` (which runs no
 * wasm). `auto` is `relaxed` for the wasm backend where the runtime validates relaxed SIMD, since
 * it is the fastest there, and `plain` for the blas backend, whose light kernels are a small share
 * of its time: so a blas run computes the same bits on Deno and Bun.
 *
 * @throws UsageError when `relaxed` is asked for and this runtime does not validate relaxed SIMD.
 *
 * @example
 * ```ts
 * resolveKernelVariant("blas", "auto"); // "plain"
 * ```
 */
export function resolveKernelVariant(
  backend: BackendName,
  choice: KernelVariantChoice,
): WasmVariant | null {
  if (backend === "js") return null;
  if (choice === "relaxed" && !relaxedSimdSupported()) {
    throw new UsageError(
      `kernelVariant "relaxed": this runtime does not validate relaxed SIMD; use "plain"`,
    );
  }
  if (choice !== "auto") return choice;
  return backend === "wasm" ? wasmKernelsVariant() : "plain";
}

/**
 * How runs name their kernels: the backend, and the wasm build where it has one. Runs with the
 * same label on the same machine compute the same bits, except `relaxed` across runtimes.
 *
 * @example
 * ```ts
 * kernelsLabel("blas", "plain"); // "blas (plain)"
 * ```
 */
export function kernelsLabel(backend: string, variant: WasmVariant | null): string {
  return variant === null ? backend : `${backend} (${variant})`;
}

/**
 * Kernels of `backend` in `dtype` for one thread, bound to the workspace `memory`. The blas
 * backend runs its two GEMMs in OpenBLAS and the light kernels in wasm, of `variant` (default:
 * the backend's, see {@link resolveKernelVariant}). `wasmModule`, the compiled kernels of that
 * variant (`compileWasmKernels`) posted from another thread, spares this one compiling them and
 * tiering them up again: on Bun, with 8 workers each compiling its own, L's first epochs took
 * 424, 130, 89 ms (2 workers: 136, 56, 54); with the module posted, 75, 61, 56.
 *
 * @example
 * ```ts
 * const kernels = await loadKernels("wasm", "f32", memory, "plain");
 * ```
 */
export async function loadKernels(
  backend: BackendName,
  dtype: Dtype,
  memory: WebAssembly.Memory,
  variant?: WasmVariant | null,
  wasmModule?: WebAssembly.Module | null,
): Promise<Kernels> {
  if (backend === "js") return jsKernels;
  const wasm = wasmModule
    ? instantiateWasmKernels(wasmModule, memory, dtype)
    : await createWasmKernels(memory, dtype, variant ?? resolveKernelVariant(backend, "auto")!);
  return backend === "blas" ? createBlasKernels(dtype, undefined, wasm) : wasm;
}
