import type { Dtype } from "../dtype.ts";
import { jsKernels } from "./js.ts";
import type { Kernels } from "./kernels.ts";

/** A kernel implementation: `js` is the readable reference, the others are fast. */
export type BackendName = "js";

/** What `--backend` accepts: a backend, or `auto` for the fastest one present. */
export type BackendChoice = BackendName | "auto";

/** The backends `--backend` accepts, in the order `--help` lists them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "js"];

/** Picks the backend that `auto` means on this machine, with a line to say why when it falls back. */
export function resolveBackend(choice: BackendChoice): { name: BackendName; note?: string } {
  return { name: choice === "auto" ? "js" : choice };
}

/**
 * Kernels of `backend` in `dtype` for one thread, bound to the workspace `memory`.
 *
 * @example
 * ```ts
 * const kernels = await loadKernels("js", "f64", memory);
 * ```
 */
export function loadKernels(
  _backend: BackendName,
  _dtype: Dtype,
  _memory: WebAssembly.Memory,
): Promise<Kernels> {
  return Promise.resolve(jsKernels);
}
