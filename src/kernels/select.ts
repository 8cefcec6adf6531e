import type { Dtype } from "../dtype.ts";
import { createBlasKernels, findBlasLibrary } from "./blas.ts";
import { jsKernels } from "./js.ts";
import type { Kernels } from "./kernels.ts";
import { createWasmKernels } from "./wasm.ts";

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
 * backend runs its two GEMMs in OpenBLAS and the light kernels in wasm.
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
): Promise<Kernels> {
  switch (backend) {
    case "js":
      return jsKernels;
    case "wasm":
      return await createWasmKernels(memory, dtype);
    case "blas":
      return createBlasKernels(dtype, undefined, await createWasmKernels(memory, dtype));
  }
}
