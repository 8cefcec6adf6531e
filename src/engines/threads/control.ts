import type { Batch } from "../../core/shards.ts";
import { CONTROL_WORDS } from "../../core/workspace.ts";

/**
 * The control words in the workspace through which the coordinator and its worker threads run
 * each step with Atomics instead of messages. A step is two queues of work that the workers drain
 * by claiming tickets: the batch's chunks, then the slices of the reduction.
 *
 * - The coordinator publishes the batch and the first ticket of each queue under `GENERATION`,
 *   which is odd while it writes them (a sequence lock), and wakes the workers.
 * - Workers claim chunk tickets until none is left, compute each chunk's partial gradient, and
 *   count it into `CHUNKS_DONE`. Once every chunk of the step is done they claim slice tickets,
 *   reduce and update each slice, and count it into `SLICES_DONE`; whoever counts the last slice
 *   wakes the coordinator.
 *
 * The ticket counters only grow (modulo 2^32) and a claim is a compare-exchange inside the step's
 * own range, so a worker that wakes late, after the step it read is finished or even after the
 * next one is published, claims nothing and changes nothing. Nobody waits for a worker unless it
 * holds a claimed ticket: a worker whose core is taken by another thread (more workers than
 * cores, other processes) does not hold up the step.
 */
export const Control = {
  /** Even: a command is published; odd: the coordinator is writing the next one. */
  GENERATION: 0,
  COMMAND: 1,
  BATCH_BEGIN: 2,
  BATCH_END: 3,
  BATCH_SHUFFLED: 4,
  /** The first chunk ticket of the published step. */
  CHUNK_BASE: 5,
  /** The first slice ticket of the published step. */
  SLICE_BASE: 6,
  /** 0, or 1 + the index of the first worker that failed. */
  FAILED: 7,
  /** The next chunk ticket to be claimed. */
  NEXT_CHUNK: 8,
  /** Chunks computed since the run began. */
  CHUNKS_DONE: 9,
  /** The next slice ticket to be claimed. */
  NEXT_SLICE: 10,
  /** Slices reduced since the run began. */
  SLICES_DONE: 11,
  /**
   * From this word on, one per worker: what it holds, so that a stalled step can name who holds
   * it up: 1 + the chunk it computes, −1 − the slice it reduces, or 0.
   */
  HOLDING: CONTROL_WORDS,
} as const;

export const Command = { STEP: 1, STOP: 2 } as const;

/** How long a blocked thread sleeps before it looks again whether the run has failed. */
const POLL_MS = 200;

/** Thrown in a worker that gives up a step because another worker failed. */
export class RunAborted extends Error {
  override name = "RunAborted";
}

/** One published command, read consistently. */
export interface Published {
  readonly command: number;
  readonly batch: Batch;
  readonly chunkBase: number;
  readonly sliceBase: number;
}

/** Whether a counter that only grows (modulo 2^32) has reached `target`. */
export function reached(count: number, target: number): boolean {
  return ((count - target) | 0) >= 0;
}

/** Coordinator: publishes a step whose queues start at these tickets, and wakes the workers. */
export function publishStep(
  control: Int32Array,
  batch: Batch,
  chunkBase: number,
  sliceBase: number,
): void {
  Atomics.add(control, Control.GENERATION, 1);
  Atomics.store(control, Control.COMMAND, Command.STEP);
  Atomics.store(control, Control.BATCH_BEGIN, batch.begin);
  Atomics.store(control, Control.BATCH_END, batch.end);
  Atomics.store(control, Control.BATCH_SHUFFLED, batch.shuffled ? 1 : 0);
  Atomics.store(control, Control.CHUNK_BASE, chunkBase);
  Atomics.store(control, Control.SLICE_BASE, sliceBase);
  Atomics.add(control, Control.GENERATION, 1);
  Atomics.notify(control, Control.GENERATION);
}

/** Coordinator: tells the workers to leave their loops. */
export function publishStop(control: Int32Array): void {
  Atomics.add(control, Control.GENERATION, 1);
  Atomics.store(control, Control.COMMAND, Command.STOP);
  Atomics.add(control, Control.GENERATION, 1);
  Atomics.notify(control, Control.GENERATION);
}

/**
 * Worker: blocks until a command newer than generation `seen` is published; returns its
 * generation. Throws `RunAborted` when a worker has failed.
 */
export function awaitCommand(control: Int32Array, seen: number): number {
  return waitFor(
    control,
    Control.GENERATION,
    (generation) => generation !== seen && (generation & 1) === 0,
  );
}

/** Worker: the command of `generation`, or null when a newer one has replaced it meanwhile. */
export function readPublished(control: Int32Array, generation: number): Published | null {
  const published = {
    command: Atomics.load(control, Control.COMMAND),
    batch: {
      begin: Atomics.load(control, Control.BATCH_BEGIN),
      end: Atomics.load(control, Control.BATCH_END),
      shuffled: Atomics.load(control, Control.BATCH_SHUFFLED) === 1,
    },
    chunkBase: Atomics.load(control, Control.CHUNK_BASE),
    sliceBase: Atomics.load(control, Control.SLICE_BASE),
  };
  return Atomics.load(control, Control.GENERATION) === generation ? published : null;
}

/**
 * Worker: claims the next ticket of the queue whose counter is `next` and whose current range is
 * `count` tickets from `base`; returns its index in that range, or −1 when the range is used up
 * (also when it belongs to a step that is over).
 */
export function claim(
  control: Int32Array,
  next: typeof Control.NEXT_CHUNK | typeof Control.NEXT_SLICE,
  base: number,
  count: number,
): number {
  for (;;) {
    const ticket = Atomics.load(control, next);
    const index = (ticket - base) | 0;
    if (index < 0 || index >= count) return -1;
    if (Atomics.compareExchange(control, next, ticket, (ticket + 1) | 0) === ticket) return index;
  }
}

/** Worker: counts one finished ticket into `done`, waking the waiters when it reaches `target`. */
export function countDone(
  control: Int32Array,
  done: typeof Control.CHUNKS_DONE | typeof Control.SLICES_DONE,
  target: number,
): void {
  if (((Atomics.add(control, done, 1) + 1) | 0) === target) Atomics.notify(control, done);
}

/** Worker: blocks until counter `done` reaches `target`. Throws `RunAborted` when a worker has failed. */
export function awaitDone(
  control: Int32Array,
  done: typeof Control.CHUNKS_DONE,
  target: number,
): void {
  waitFor(control, done, (count) => reached(count, target));
}

/**
 * Blocks until control word `index` holds a value that is `ready`, and returns it; sleeps between
 * changes, but wakes every `POLL_MS` to throw `RunAborted` if a worker has failed meanwhile.
 */
function waitFor(control: Int32Array, index: number, ready: (value: number) => boolean): number {
  for (;;) {
    const value = Atomics.load(control, index);
    if (ready(value)) return value;
    if (Atomics.load(control, Control.FAILED) !== 0) throw new RunAborted();
    Atomics.wait(control, index, value, POLL_MS);
  }
}

/** Marks the run failed by `worker` and wakes everyone who waits, so they notice. */
export function markFailed(control: Int32Array, worker: number): void {
  Atomics.compareExchange(control, Control.FAILED, 0, worker + 1);
  Atomics.notify(control, Control.GENERATION);
  Atomics.notify(control, Control.CHUNKS_DONE);
  Atomics.notify(control, Control.SLICES_DONE);
}
