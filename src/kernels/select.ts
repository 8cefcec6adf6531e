import type { Dtype } from "../dtype.ts";
import { createBlasKernels, findBlasLibrary } from "./blas.ts";
import { jsKernels } from "./js.ts";
import type { Kernels } from "./kernels.ts";
import { createWasmKernels, instantiateWasmKernels } from "./wasm.ts";

/** A kernel implementation: `js` is the readable reference, the others are fast. */
export type BackendName = "js" | "wasm" | "blas";

/** What `--backend` accepts: a backend, or `auto` for the fastest one present. */
export type BackendChoice = BackendName | "auto";

/** The backends `--backend` accepts, in the order `--help` lists them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "wasm", "blas", "js"];

/**
 * The backend `choice` means on this machine: `auto` is `blas` where OpenBLAS is installed and
 * `wasm` otherwise, with a note saying so.
 *
 * @example
 * ```ts
 * const { name, note } = resolveBackend("auto");
 * ```
 */
export function resolveBackend(choice: BackendChoice): { name: BackendName; note?: string } {
  if (choice !== "auto") return { name: choice };
  if (findBlasLibrary() !== null) return { name: "blas" };
  return {
    name: "wasm",
    note:
      "OpenBLAS not found (Debian: apt-get install libopenblas0-pthread): using the wasm backend",
  };
}

/**
 * Kernels of `backend` in `dtype` for one thread, bound to the workspace `memory`. The blas
 * backend runs its two GEMMs in OpenBLAS and the light kernels in wasm. `wasmModule`, the
 * compiled kernels (`compileWasmKernels`) posted from another thread, spares this one compiling
 * them and tiering them up again: on Bun, with 8 workers each compiling its own, L's first
 * epochs took 424, 130, 89 ms (2 workers: 136, 56, 54); with the module posted, 75, 61, 56.
 *
 * @example
 * ```ts
 * const kernels = await loadKernels("wasm", "f32", memory);
 * ```
 */
export async function loadKernels(
  backend: BackendName,
  dtype: Dtype,
  memory: WebAssembly.Memory,
  wasmModule?: WebAssembly.Module | null,
): Promise<Kernels> {
  if (backend === "js") return jsKernels;
  const wasm = wasmModule
    ? instantiateWasmKernels(wasmModule, memory, dtype)
    : await createWasmKernels(memory, dtype);
  return backend === "blas" ? createBlasKernels(dtype, undefined, wasm) : wasm;
}
