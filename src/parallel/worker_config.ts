import type { BackendName } from "../kernels/select.ts";
import type { WorkspaceLayout } from "../train/workspace.ts";

/** What a worker thread is told once, before its first step. */
export interface WorkerConfig {
  readonly memory: WebAssembly.Memory;
  readonly layout: WorkspaceLayout;
  /** This worker's index, 0 .. workers−1: its scratch slot and the parameter slice it reduces. */
  readonly index: number;
  readonly workers: number;
  readonly backend: BackendName;
  /** The compiled wasm kernels, shared rather than compiled again; null for the js backend. */
  readonly wasmModule: WebAssembly.Module | null;
  readonly learningRate: number;
  /**
   * A test hook: this worker throws in the first step from this one on (counted from 1) in which
   * it claims a chunk; 0 means while configuring.
   */
  readonly fault?: { readonly worker: number; readonly step: number };
}
