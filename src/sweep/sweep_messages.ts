/**
 * The messages between a sweep and its threads. Each carries the protocol version `v`, and each
 * side checks every message it receives, so that a thread of another version, or a bug, fails
 * with a clear line instead of a hang.
 */
import type { Dataset } from "../data/dataset.ts";
import type { Split } from "./folds.ts";
import type { SweepConfig } from "./grid.ts";
import type { RunOptions, RunOutcome } from "./sweep_run.ts";
import type { WasmVariant } from "../kernels/wasm.ts";

export const SWEEP_PROTOCOL = 1;

/** What a failure in a thread was, so the sweep rethrows it as the same kind of error. */
export type FailureKind = "data" | "usage" | "internal";

/** From the sweep to a thread. */
export type ToThread =
  /**
   * The data and splits every run draws from, and the options they share: sent once, with the
   * wasm kernels the runs use compiled (null for the js backend), so that each thread neither
   * compiles nor tiers them up again.
   */
  | {
    readonly v: 1;
    readonly type: "init";
    readonly data: Dataset;
    readonly splits: readonly Split[];
    readonly base: RunOptions;
    readonly wasm: { readonly variant: WasmVariant; readonly module: WebAssembly.Module } | null;
    /** One shared word, set to 1 when the sweep is stopped: the run in hand ends at its epoch's end. */
    readonly stop: Int32Array;
  }
  /** Train `config` on split `split`. */
  | {
    readonly v: 1;
    readonly type: "run";
    readonly id: number;
    readonly config: SweepConfig;
    readonly split: number;
  };

/** From a thread to the sweep. */
export type FromThread =
  | { readonly v: 1; readonly type: "ready" }
  /** A run is still making progress. */
  | { readonly v: 1; readonly type: "alive" }
  | { readonly v: 1; readonly type: "note"; readonly note: string }
  | { readonly v: 1; readonly type: "done"; readonly id: number; readonly outcome: RunOutcome }
  | {
    readonly v: 1;
    readonly type: "failed";
    readonly kind: FailureKind;
    readonly message: string;
  };

/**
 * `message` as a `ToThread`, or a TypeError saying what is wrong with it.
 *
 * @example
 * ```ts
 * const message = checkToThread(event.data);
 * ```
 */
export function checkToThread(message: unknown): ToThread {
  const m = versioned(message);
  if (m.type === "init") {
    const wasm = m.wasm;
    const wasmOk = wasm === null ||
      (isObject(wasm) && (wasm.variant === "relaxed" || wasm.variant === "plain") &&
        wasm.module instanceof WebAssembly.Module);
    const stopOk = m.stop instanceof Int32Array && m.stop.length === 1 &&
      m.stop.buffer instanceof SharedArrayBuffer;
    if (isObject(m.data) && Array.isArray(m.splits) && isObject(m.base) && wasmOk && stopOk) {
      return m as ToThread;
    }
  } else if (m.type === "run") {
    if (isCount(m.id) && isObject(m.config) && isCount(m.split)) return m as ToThread;
  }
  throw new TypeError(`a sweep thread received a malformed ${describe(m.type)} message`);
}

/**
 * `message` as a `FromThread`, or a TypeError saying what is wrong with it.
 *
 * @example
 * ```ts
 * const message = checkFromThread(event.data);
 * ```
 */
export function checkFromThread(message: unknown): FromThread {
  const m = versioned(message);
  switch (m.type) {
    case "ready":
    case "alive":
      return m as FromThread;
    case "note":
      if (typeof m.note === "string") return m as FromThread;
      break;
    case "done":
      if (isCount(m.id) && isObject(m.outcome) && typeof m.outcome.valLoss === "number") {
        return m as FromThread;
      }
      break;
    case "failed":
      if (
        ["data", "usage", "internal"].includes(m.kind as string) && typeof m.message === "string"
      ) {
        return m as FromThread;
      }
  }
  throw new TypeError(`a sweep received a malformed ${describe(m.type)} message from a thread`);
}

function versioned(message: unknown): Record<string, unknown> {
  if (!isObject(message)) throw new TypeError("a sweep message must be an object");
  if (message.v !== SWEEP_PROTOCOL) {
    throw new TypeError(
      `sweep message version ${JSON.stringify(message.v)}, expected ${SWEEP_PROTOCOL}`,
    );
  }
  return message;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

function describe(type: unknown): string {
  return typeof type === "string" ? `"${type}"` : "untyped";
}
