import type { Dataset } from "../data/dataset.ts";
import { DataError, UsageError, WorkerError } from "../errors.ts";
import { environmentVariable } from "../runtime/process.ts";
import type { Split } from "./folds.ts";
import type { SweepConfig } from "./grid.ts";
import { checkFromThread, type FromThread, type ToThread } from "./sweep_messages.ts";
import type { RunOptions, RunOutcome } from "./sweep_run.ts";
import type { WasmVariant } from "../kernels/wasm.ts";

const WORKER_URL = new URL("./sweep_worker.ts", import.meta.url);

/**
 * A thread that has said nothing for this long while it loads or trains a run is taken for
 * stuck (a run says it is alive every second); `SHARDNET_STALL_MS` overrides it, for the tests.
 */
const STALL_MS = 60_000;

/**
 * One worker thread of a sweep, training one run at a time: runs asked for while it trains wait
 * in the thread and are answered in the order asked. It fails (rejecting the runs it holds, and
 * every later one) when its thread throws, exits, sends a malformed message or goes silent for
 * the stall time; `terminate` ends it at once.
 */
export class SweepThread {
  readonly index: number;
  readonly #thread: Worker;
  /** The answers awaited, in the order the thread will give them. */
  #waiting: { resolve: (m: FromThread) => void; reject: (e: Error) => void }[] = [];
  #failure: Error | null = null;
  #lastHeard = performance.now();
  #watchdog: ReturnType<typeof setInterval>;
  #nextId = 0;
  #terminated = false;
  /** Where notes from the thread's runs go; a thread kept for the next sweep hears that sweep's. */
  onNote: (note: string) => void;

  /**
   * Starts a thread; `init` then gives it the data. Notes from its runs go to `onNote`.
   *
   * @example
   * ```ts
   * const thread = new SweepThread(0, console.log);
   * try {
   *   await thread.init(data, splits, { epochs: 300 }, null, new Int32Array(new SharedArrayBuffer(4)));
   *   const outcome = await thread.run({ learningRate: 0.1 }, 0);
   * } finally {
   *   thread.terminate();
   * }
   * ```
   */
  constructor(index: number, onNote: (note: string) => void) {
    this.index = index;
    this.onNote = onNote;
    const stallMs = stallFromEnvironment();
    this.#thread = new Worker(WORKER_URL.href, { type: "module" });
    this.#thread.addEventListener("message", (event) => {
      this.#lastHeard = performance.now();
      let message: FromThread;
      try {
        message = checkFromThread((event as MessageEvent).data);
      } catch (e) {
        this.#fail(new WorkerError(`sweep thread ${index}: ${(e as Error).message}`));
        return;
      }
      if (message.type === "alive") return;
      if (message.type === "note") this.onNote(message.note);
      else this.#answer(message);
    });
    this.#thread.addEventListener("error", (event) => {
      event.preventDefault();
      const why = (event as ErrorEvent).message || "the thread died";
      this.#fail(new WorkerError(`sweep thread ${index}: ${why}`));
    });
    // Bun tells when a thread ends; Deno does not (the watchdog covers it there).
    this.#thread.addEventListener("close", () => {
      if (!this.#terminated) {
        this.#fail(new WorkerError(`sweep thread ${index}: its thread exited without an error`));
      }
    });
    this.#watchdog = setInterval(() => {
      if (this.#waiting.length > 0 && performance.now() - this.#lastHeard > stallMs) {
        this.#fail(
          new WorkerError(`sweep thread ${index}: no word from it for ${stallMs / 1000} s`),
        );
      }
    }, Math.min(1000, stallMs / 4));
  }

  /** False once the thread failed or was terminated: it trains nothing more. */
  get usable(): boolean {
    return this.#failure === null && !this.#terminated;
  }

  /**
   * Gives the thread the data, splits and shared options of every run it will train, and the
   * compiled wasm kernels they use (see `runKernels`; null for the js backend); given again, they
   * replace the earlier ones for the runs after.
   */
  async init(
    data: Dataset,
    splits: readonly Split[],
    base: RunOptions,
    wasm: { variant: WasmVariant; module: WebAssembly.Module } | null,
    stop: Int32Array,
  ): Promise<void> {
    const reply = await this.#ask({ v: 1, type: "init", data, splits, base, wasm, stop });
    if (reply.type !== "ready") throw this.#unexpected(reply);
  }

  /** Trains `config` on split `split` in the thread, after the runs asked for before. */
  async run(config: SweepConfig, split: number): Promise<RunOutcome> {
    const id = this.#nextId++;
    const reply = await this.#ask({ v: 1, type: "run", id, config, split });
    if (reply.type !== "done" || reply.id !== id) throw this.#unexpected(reply);
    return reply.outcome;
  }

  /** Ends the thread now; the runs it holds reject. */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    clearInterval(this.#watchdog);
    this.#thread.terminate();
    this.#fail(new WorkerError(`sweep thread ${this.index}: terminated`));
  }

  #ask(message: ToThread): Promise<FromThread> {
    if (this.#failure) return Promise.reject(this.#failure);
    // Silence counts from the oldest question still unanswered.
    if (this.#waiting.length === 0) this.#lastHeard = performance.now();
    const answer = new Promise<FromThread>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
    });
    this.#thread.postMessage(message);
    return answer;
  }

  #answer(message: FromThread): void {
    const waiting = this.#waiting.shift();
    if (!waiting) {
      this.#fail(this.#unexpected(message));
      return;
    }
    if (message.type === "failed") {
      const text = `sweep thread ${this.index}: ${message.message}`;
      waiting.reject(
        message.kind === "usage"
          ? new UsageError(message.message)
          : message.kind === "data"
          ? new DataError(message.message)
          : new WorkerError(text),
      );
      return;
    }
    waiting.resolve(message);
  }

  #unexpected(message: FromThread): Error {
    return new WorkerError(`sweep thread ${this.index}: unexpected "${message.type}" message`);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(this.#failure);
    if (!this.#terminated) this.terminate();
  }
}

function stallFromEnvironment(): number {
  const ms = Number(environmentVariable("SHARDNET_STALL_MS"));
  return Number.isFinite(ms) && ms > 0 ? ms : STALL_MS;
}
