/**
 * The control words in the workspace through which the coordinator and its worker threads
 * synchronize each step with Atomics, instead of posting messages: the coordinator publishes a
 * step and bumps `GENERATION`; workers claim chunks until none is left, meet at a barrier, reduce,
 * and count themselves into `DONE`; the last one wakes the coordinator.
 */
export const Control = {
  /** Bumped by the coordinator to publish a command. */
  GENERATION: 0,
  COMMAND: 1,
  BATCH_BEGIN: 2,
  BATCH_END: 3,
  BATCH_SHUFFLED: 4,
  /** Workers that have finished the current step. */
  DONE: 5,
  /** Workers that have reached the barrier between computing and reducing. */
  ARRIVED: 6,
  BARRIER_GENERATION: 7,
  /** 0, or 1 + the index of the first worker that failed. */
  FAILED: 8,
  /** The next chunk of the current step that no worker has claimed yet. */
  NEXT_CHUNK: 9,
} as const;

export const Command = { STEP: 1, STOP: 2 } as const;

/** How long a blocked thread sleeps before it looks again whether the run has failed. */
const POLL_MS = 200;

/** Thrown in a worker that gives up a step because another worker failed. */
export class RunAborted extends Error {
  override name = "RunAborted";
}

/**
 * Blocks until every one of `parties` workers has called it for this round (a generation
 * barrier). Throws `RunAborted` when a worker has failed, so nobody waits for it forever.
 */
export function barrier(control: Int32Array, parties: number): void {
  const generation = Atomics.load(control, Control.BARRIER_GENERATION);
  if (Atomics.add(control, Control.ARRIVED, 1) + 1 === parties) {
    Atomics.store(control, Control.ARRIVED, 0);
    Atomics.add(control, Control.BARRIER_GENERATION, 1);
    Atomics.notify(control, Control.BARRIER_GENERATION);
    return;
  }
  while (Atomics.load(control, Control.BARRIER_GENERATION) === generation) {
    if (Atomics.load(control, Control.FAILED) !== 0) throw new RunAborted();
    Atomics.wait(control, Control.BARRIER_GENERATION, generation, POLL_MS);
  }
}

/**
 * Claims the next unclaimed chunk of the current step. Chunks go to whichever worker is free
 * first, so a worker slowed by the machine (another process on its core) takes fewer chunks
 * instead of holding up the barrier; the bits do not depend on who computes a chunk.
 */
export function claimChunk(control: Int32Array): number {
  return Atomics.add(control, Control.NEXT_CHUNK, 1);
}

/** Blocks a worker until the coordinator publishes a generation after `seen`; returns it. */
export function awaitCommand(control: Int32Array, seen: number): number {
  for (;;) {
    const generation = Atomics.load(control, Control.GENERATION);
    if (generation !== seen) return generation;
    if (Atomics.load(control, Control.FAILED) !== 0) throw new RunAborted();
    Atomics.wait(control, Control.GENERATION, seen, POLL_MS);
  }
}

/** Marks the run failed by `worker` and wakes everyone who waits, so they notice. */
export function markFailed(control: Int32Array, worker: number): void {
  Atomics.compareExchange(control, Control.FAILED, 0, worker + 1);
  Atomics.notify(control, Control.BARRIER_GENERATION);
  Atomics.notify(control, Control.GENERATION);
  Atomics.notify(control, Control.DONE);
}
