import * as Comlink from "comlink";
import { WorkerError } from "../errors.ts";
import type { BackendName } from "../kernels/select.ts";
import type { Batch } from "../train/gradient_shard.ts";
import type { StepEngine } from "../train/step_engine.ts";
import type { WorkspaceLayout } from "../train/workspace.ts";
import type { GradientWorkerApi } from "../../workers/gradient_worker.ts";
import { compileWasmKernels, type WasmVariant } from "../kernels/wasm.ts";
import { chunkCount, reduceSlices } from "../train/shards.ts";
import { Control, markFailed, publishStep, publishStop, reached } from "./control.ts";
import type { WorkerConfig, WorkerFault } from "./worker_config.ts";
import { environmentVariable } from "../runtime/process.ts";

/** How a thread engine is started. */
export interface ThreadEngineOptions {
  readonly memory: WebAssembly.Memory;
  readonly layout: WorkspaceLayout;
  readonly workers: number;
  readonly backend: BackendName;
  /** The wasm build every worker runs; null for the js backend. */
  readonly kernelVariant: WasmVariant | null;
  readonly learningRate: number;
}

/** How long `close` waits for workers to leave their loops before terminating them anyway. */
const STOP_GRACE_MS = 2000;
/** The coordinator re-checks for dead workers this often while it waits for a step. */
const WAIT_SLICE_MS = 500;
/**
 * A worker whose thread ends without an error (Deno's workers report no such end) would leave
 * the step waiting forever. So a step in which no chunk or slice has been finished for this long,
 * or for `STALL_STEPS` times the slowest step so far if that is longer, ends the run; so does a
 * configuration that takes this long. `SHARDNET_STALL_MS` overrides it, for the tests.
 */
const STALL_MS = 60_000;
const STALL_STEPS = 20;

const WORKER_URL = new URL("../../workers/gradient_worker.ts", import.meta.url);

/**
 * Data-parallel steps on worker threads that share the workspace memory: the data set is read
 * in place, parameters and partial gradients live in shared buffers, and each step is published
 * in shared memory and drained by the workers as two queues of tickets, chunks then reduction
 * slices (see control.ts), with no per-step messages.
 */
export class ThreadEngine implements StepEngine {
  readonly workers: number;
  readonly #threads: Worker[];
  readonly #runs: Promise<void>[];
  readonly #control: Int32Array;
  readonly #chunkRows: number;
  readonly #slices: number;
  /** The first ticket of the next step's chunk and slice queues. */
  #chunkTicket = 0;
  #sliceTicket = 0;
  #steps = 0;
  /** Workers whose thread has ended or hung: `close` does not wait for them to stop. */
  readonly #gone = new Set<number>();
  #slowestStepMs = 0;
  readonly #stallMs = stallFromEnvironment();
  #failure: Error | null = null;
  /** Rejects with the first failure; lets setup stop waiting on a worker that died loading. */
  readonly #failed: Promise<never>;
  #rejectFailed: (e: Error) => void = () => {};
  #closed = false;

  private constructor(
    workers: number,
    threads: Worker[],
    runs: Promise<void>[],
    control: Int32Array,
    layout: WorkspaceLayout,
  ) {
    this.workers = workers;
    this.#threads = threads;
    this.#runs = runs;
    this.#control = control;
    this.#chunkRows = layout.chunkRows;
    this.#slices = reduceSlices(layout.paramCount, workers);
    this.#failed = new Promise<never>((_, reject) => this.#rejectFailed = reject);
    this.#failed.catch(() => {});
  }

  /**
   * Spawns and configures the workers and starts their step loops.
   *
   * @example
   * ```ts
   * const engine = await ThreadEngine.start({ memory, layout, workers: 2, backend: "js", kernelVariant: null, learningRate: 0.5 });
   * try { await engine.step({ begin: 0, end: 569, shuffled: false }); } finally { await engine.close(); }
   * ```
   */
  static async start(options: ThreadEngineOptions): Promise<ThreadEngine> {
    const { memory, layout, workers } = options;
    const control = new Int32Array(memory.buffer, layout.control.offset, layout.control.length);
    const threads: Worker[] = [];
    const runs: Promise<void>[] = [];
    const engine = new ThreadEngine(workers, threads, runs, control, layout);
    const fault = faultFromEnvironment();
    const { kernelVariant } = options;
    const wasmModule = kernelVariant === null ? null : await compileWasmKernels(kernelVariant);
    try {
      for (let index = 0; index < workers; index++) {
        const thread = new Worker(WORKER_URL.href, { type: "module" });
        thread.addEventListener("error", (event) => {
          event.preventDefault();
          engine.#fail(index, (event as ErrorEvent).message || "the worker thread died");
        });
        // Bun tells when a worker's thread ends; Deno does not (the step watchdog covers it).
        thread.addEventListener("close", () => {
          if (engine.#closed) return;
          engine.#gone.add(index);
          engine.#fail(index, "its thread exited without an error");
        });
        threads.push(thread);
      }
      const remotes = threads.map((t) => Comlink.wrap<GradientWorkerApi>(t));
      const pending = new Set(remotes.keys());
      const configured = Promise.all(remotes.map((remote, index) => {
        const config: WorkerConfig = {
          memory,
          layout,
          index,
          workers,
          backend: options.backend,
          kernelVariant,
          wasmModule,
          learningRate: options.learningRate,
          ...(fault ? { fault } : {}),
        };
        return remote.configure(config).then(() => pending.delete(index), (e: unknown) => {
          engine.#fail(index, e instanceof Error ? e.message : String(e));
        });
      }));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const index = pending.values().next().value ?? 0;
          reject(
            new WorkerError(`worker ${index}: not configured after ${seconds(engine.#stallMs)}`),
          );
        }, engine.#stallMs);
      });
      try {
        await Promise.race([configured, engine.#failed, stalled]);
      } finally {
        clearTimeout(timer);
      }
      remotes.forEach((remote, index) => {
        const run = remote.run().catch((e: unknown) => {
          engine.#fail(index, e instanceof Error ? e.message : String(e));
        });
        runs.push(run);
      });
    } catch (e) {
      await engine.close();
      throw e;
    }
    return engine;
  }

  async step(batch: Batch): Promise<void> {
    const c = this.#control;
    this.#throwIfFailed();
    const chunks = chunkCount(batch.end - batch.begin, this.#chunkRows);
    const slicesEnd = (this.#sliceTicket + this.#slices) | 0;
    const started = performance.now();
    this.#steps++;
    publishStep(c, batch, this.#chunkTicket, this.#sliceTicket);
    let progress = Number.NaN;
    let progressAt = started;
    for (;;) {
      const done = Atomics.load(c, Control.SLICES_DONE);
      if (reached(done, slicesEnd)) break;
      if (Atomics.load(c, Control.FAILED) !== 0) {
        await this.#awaitFailureMessage();
        this.#throwIfFailed();
      }
      const now = performance.now();
      const finished = (Atomics.load(c, Control.CHUNKS_DONE) + done) | 0;
      if (finished !== progress) {
        progress = finished;
        progressAt = now;
      } else if (now - progressAt > Math.max(this.#stallMs, STALL_STEPS * this.#slowestStepMs)) {
        this.#stalled(now - progressAt);
      }
      const wait = Atomics.waitAsync(c, Control.SLICES_DONE, done, WAIT_SLICE_MS);
      if (wait.async) await wait.value;
    }
    this.#slowestStepMs = Math.max(this.#slowestStepMs, performance.now() - started);
    this.#chunkTicket = (this.#chunkTicket + chunks) | 0;
    this.#sliceTicket = slicesEnd;
  }

  /** Fails the run for a step that has not moved for `ms`, naming the workers holding work. */
  #stalled(ms: number): never {
    const held: string[] = [];
    for (let index = 0; index < this.workers; index++) {
      const holding = Atomics.load(this.#control, Control.HOLDING + index);
      if (holding !== 0) this.#gone.add(index);
      if (holding > 0) held.push(`worker ${index}: chunk ${holding - 1}`);
      if (holding < 0) held.push(`worker ${index}: reduction slice ${-holding - 1}`);
    }
    const what = held.length > 0 ? held.join(", ") : "no worker holds any work";
    const stalled = new WorkerError(
      `${what}: no progress in step ${this.#steps} for ${seconds(ms)}; ` +
        "a worker thread has exited or hung",
    );
    this.#failRun(stalled, [...this.#gone][0] ?? 0);
    throw this.#failure;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    publishStop(this.#control);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#runs.filter((_, index) => !this.#gone.has(index))),
      new Promise((resolve) => timer = setTimeout(resolve, STOP_GRACE_MS)),
    ]);
    clearTimeout(timer);
    for (const thread of this.#threads) thread.terminate();
  }

  #fail(index: number, message: string): void {
    this.#failRun(new WorkerError(`worker ${index}: ${message}`), index);
  }

  /** Records the run's first failure and tells every waiting thread, workers included. */
  #failRun(error: WorkerError, index: number): void {
    this.#failure ??= error;
    this.#rejectFailed(this.#failure);
    markFailed(this.#control, index);
  }

  /** The failing worker marks shared memory first; its message arrives a moment later over comlink. */
  async #awaitFailureMessage(): Promise<void> {
    const index = Atomics.load(this.#control, Control.FAILED) - 1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#runs[index],
      new Promise((resolve) => timer = setTimeout(resolve, STOP_GRACE_MS)),
    ]);
    clearTimeout(timer);
    this.#failure ??= new WorkerError(`worker ${index}: failed without a message`);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}

/**
 * `SHARDNET_FAULT=worker:step` makes that worker throw while it holds a chunk of the first step
 * from `step` on in which it claims one (0: while it is being configured); `worker:step:exit`
 * makes its thread end there without an error instead. A hook for fault tests.
 */
function faultFromEnvironment(): WorkerFault | undefined {
  const spec = environmentVariable("SHARDNET_FAULT");
  const match = spec ? /^(\d+):(\d+)(:exit)?$/.exec(spec) : null;
  if (!match) return undefined;
  return { worker: Number(match[1]), step: Number(match[2]), exit: match[3] !== undefined };
}

function stallFromEnvironment(): number {
  const ms = Number(environmentVariable("SHARDNET_STALL_MS"));
  return Number.isFinite(ms) && ms > 0 ? ms : STALL_MS;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
