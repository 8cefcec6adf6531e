import type { Kernels } from "../kernels/kernels.ts";
import { allocateWorkspace, type WorkspaceLayout } from "./workspace.ts";

/** A pool's memory lent to one run, with the kernels bound to it. */
export interface WorkspaceLease {
  /** Zeroed when lent: as a fresh memory of the run's layout, possibly larger. */
  readonly memory: WebAssembly.Memory;
  /**
   * The kernels that `key` names, bound to `memory`: loaded by `load` the first time, the same
   * instance afterwards while the pool holds that memory. The key must name everything `load`
   * depends on besides the memory (backend, dtype, variant).
   */
  kernels(key: string, load: (memory: WebAssembly.Memory) => Promise<Kernels>): Promise<Kernels>;
  /** Gives the memory back (again: nothing); the run must not touch it or its kernels after. */
  release(): void;
}

/**
 * One thread's workspace memory and the kernels bound to it, kept from one training run to the
 * next, for a thread that trains many small runs one after another (a sweep's). A fresh shared
 * memory is zero and none of its pages is mapped yet: each run would fault them in, and the
 * collector unmap them again, which costs as much as many steps of a small run. A lent memory is
 * zeroed first, so a run on it computes exactly what it would on a fresh one.
 *
 * The pool lends its memory to one run at a time and holds the largest memory a run asked for
 * until the pool itself is dropped.
 *
 * @example
 * ```ts
 * const pool = new WorkspacePool();
 * for (const options of grid) await train(rows, { ...options, workers: 0, workspacePool: pool });
 * ```
 */
export class WorkspacePool {
  #memory: WebAssembly.Memory | null = null;
  readonly #kernels = new Map<string, Kernels>();
  #lent = false;

  /**
   * Lends a zeroed memory of at least `layout.bytes`: the held one when it is large enough, else
   * a new one that the pool holds from now on. Throws while another run holds the lease.
   */
  lend(layout: WorkspaceLayout): WorkspaceLease {
    if (this.#lent) throw new Error("a workspace pool lends its memory to one run at a time");
    let memory = this.#memory;
    if (memory !== null && memory.buffer.byteLength >= layout.bytes) {
      new Uint8Array(memory.buffer).fill(0);
    } else {
      memory = this.#memory = allocateWorkspace(layout);
      this.#kernels.clear();
    }
    this.#lent = true;
    let returned = false;
    const cache = this.#kernels;
    return {
      memory,
      kernels: async (key, load) => {
        let kernels = cache.get(key);
        if (kernels === undefined) {
          kernels = await load(memory);
          cache.set(key, kernels);
        }
        return kernels;
      },
      release: () => {
        if (returned) return;
        returned = true;
        this.#lent = false;
      },
    };
  }
}
