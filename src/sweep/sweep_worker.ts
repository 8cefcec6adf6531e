/**
 * A thread of a sweep: receives the data and splits once, then trains one run per "run" message,
 * one at a time and in the order they arrive, in this thread, and answers each with its outcome.
 * The sweep may send the next run before this one is done: it waits here, so the thread goes
 * from one run to the next without waiting for the sweep's thread to be scheduled. While a run
 * trains the thread says it is alive at most once a second, so that the sweep can tell a stuck
 * thread from a slow run.
 */
import { DataError, UsageError } from "../errors.ts";
import type { Dataset } from "../data/dataset.ts";
import type { Split } from "./folds.ts";
import { checkToThread, type FailureKind, type FromThread } from "./sweep_messages.ts";
import { type RunOptions, runSplit } from "./sweep_run.ts";
import { adoptWasmKernels } from "../kernels/wasm.ts";
import { WorkspacePool } from "../core/workspace_pool.ts";

const ALIVE_MS = 1000;

const port = globalThis as unknown as {
  postMessage(message: FromThread): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
};

let shared: { data: Dataset; splits: readonly Split[]; base: RunOptions } | null = null;
let lastAlive = 0;
const notes = new Set<string>();
const workspacePool = new WorkspacePool();

/** Set by the sweep when it is stopped (see the init message). */
let stop: Int32Array<ArrayBufferLike> = new Int32Array(1);

/** Thrown at an epoch's end once the sweep is stopped: the run is dropped, the thread idles. */
class Stopped extends Error {}

function alive(): void {
  if (Atomics.load(stop, 0) !== 0) throw new Stopped("the sweep was stopped");
  const now = performance.now();
  if (now - lastAlive < ALIVE_MS) return;
  lastAlive = now;
  port.postMessage({ v: 1, type: "alive" });
}

function note(text: string): void {
  if (notes.has(text)) return;
  notes.add(text);
  port.postMessage({ v: 1, type: "note", note: text });
}

// A run awaits (its kernels load asynchronously), and a message arriving meanwhile must not
// start another run beside it: messages wait here and are handled in order.
const inbox: unknown[] = [];
let handling = false;

port.addEventListener("message", (event) => {
  inbox.push(event.data);
  if (!handling) void handleInbox();
});

async function handleInbox(): Promise<void> {
  handling = true;
  while (inbox.length > 0) await handle(inbox.shift());
  handling = false;
}

async function handle(data: unknown): Promise<void> {
  try {
    const message = checkToThread(data);
    if (message.type === "init") {
      if (message.wasm) adoptWasmKernels(message.wasm.variant, message.wasm.module);
      shared = { data: message.data, splits: message.splits, base: message.base };
      stop = message.stop;
      // A thread kept for another sweep tells that sweep its notes too.
      notes.clear();
      port.postMessage({ v: 1, type: "ready" });
      return;
    }
    if (!shared) throw new Error("a run arrived before the data");
    const split = shared.splits[message.split];
    if (!split) throw new Error(`split ${message.split} does not exist`);
    if (Atomics.load(stop, 0) !== 0) throw new Stopped("the sweep was stopped");
    lastAlive = performance.now();
    const outcome = await runSplit(shared.data, split, { ...shared.base, ...message.config }, {
      onEpoch: alive,
      onNote: note,
      workspacePool,
    });
    port.postMessage({ v: 1, type: "done", id: message.id, outcome });
  } catch (e) {
    const kind: FailureKind = e instanceof UsageError
      ? "usage"
      : e instanceof DataError
      ? "data"
      : "internal";
    // The template keeps the options the message names, for the command to show as flags.
    const text = e instanceof UsageError || e instanceof DataError
      ? e.template
      : e instanceof Error
      ? e.message
      : String(e);
    port.postMessage({ v: 1, type: "failed", kind, message: text });
  }
}
