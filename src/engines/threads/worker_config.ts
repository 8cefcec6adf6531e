import type { BackendName } from "../../kernels/select.ts";
import type { WorkspaceLayout } from "../../core/workspace.ts";
import type { WasmVariant } from "../../kernels/wasm.ts";

/** What a worker thread is told once, before its first step. */
export interface WorkerConfig {
  readonly memory: WebAssembly.Memory;
  readonly layout: WorkspaceLayout;
  /** This worker's index, 0 .. workers−1: its scratch slot and its word in the control block. */
  readonly index: number;
  readonly workers: number;
  readonly backend: BackendName;
  /** The wasm build the coordinator resolved; null for the js backend. */
  readonly kernelVariant: WasmVariant | null;
  /** The compiled `kernelVariant`, shared rather than compiled again; null for the js backend. */
  readonly wasmModule: WebAssembly.Module | null;
  /** A test hook: see `WorkerFault`. */
  readonly fault?: WorkerFault;
}

/**
 * A test hook: worker `worker` fails in the first step from `step` on (counted from 1) in which
 * it claims a chunk, while holding it, or while being configured when `step` is 0. It throws, or
 * with `exit` ends its thread without an error.
 */
export interface WorkerFault {
  readonly worker: number;
  readonly step: number;
  readonly exit: boolean;
}
