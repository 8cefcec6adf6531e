import type { Batch } from "./gradient_shard.ts";

/**
 * The coordinator's view of whoever computes a step. The epoch loop speaks only this protocol,
 * so the single-thread run, worker threads on shared memory, and any later transport (processes,
 * machines) train through the same loop and cannot drift apart.
 */
export interface StepEngine {
  /** Threads that compute partial gradients (0: the calling thread does). */
  readonly workers: number;
  /**
   * One synchronized step on `batch`: every chunk's partial gradient, the reduction in chunk
   * order, and the descent step on the shared parameters. On return the parameters are updated
   * and the workspace's chunk statistics hold each chunk's loss sum and correct count.
   */
  step(batch: Batch): Promise<void> | void;
  /** Releases every thread the engine holds; safe to call more than once, and after a failure. */
  close(): Promise<void>;
}
