import * as Comlink from "comlink";
import { WorkerError } from "../errors.ts";
import type { BackendName } from "../kernels/select.ts";
import type { Batch } from "../train/gradient_shard.ts";
import type { StepEngine } from "../train/step_engine.ts";
import type { WorkspaceLayout } from "../train/workspace.ts";
import type { GradientWorkerApi } from "../../workers/gradient_worker.ts";
import { compileWasmKernels } from "../kernels/wasm.ts";
import { chunkCount, reduceSlices } from "../train/shards.ts";
import { Control, markFailed, publishStep, publishStop, reached } from "./control.ts";
import type { WorkerConfig } from "./worker_config.ts";
import { environmentVariable } from "../runtime/process.ts";

/** How a thread engine is started. */
export interface ThreadEngineOptions {
  readonly memory: WebAssembly.Memory;
  readonly layout: WorkspaceLayout;
  readonly workers: number;
  readonly backend: BackendName;
  readonly learningRate: number;
}

/** How long `close` waits for workers to leave their loops before terminating them anyway. */
const STOP_GRACE_MS = 2000;
/** The coordinator re-checks for dead workers this often while it waits for a step. */
const WAIT_SLICE_MS = 500;

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
   * const engine = await ThreadEngine.start({ memory, layout, workers: 2, backend: "js", learningRate: 0.5 });
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
    const wasmModule = options.backend === "js" ? null : await compileWasmKernels();
    try {
      for (let index = 0; index < workers; index++) {
        const thread = new Worker(WORKER_URL.href, { type: "module" });
        thread.addEventListener("error", (event) => {
          event.preventDefault();
          engine.#fail(index, (event as ErrorEvent).message || "the worker thread died");
        });
        threads.push(thread);
      }
      const remotes = threads.map((t) => Comlink.wrap<GradientWorkerApi>(t));
      const configured = Promise.all(remotes.map((remote, index) => {
        const config: WorkerConfig = {
          memory,
          layout,
          index,
          workers,
          backend: options.backend,
          wasmModule,
          learningRate: options.learningRate,
          ...(fault ? { fault } : {}),
        };
        return remote.configure(config).catch((e: unknown) => {
          engine.#fail(index, e instanceof Error ? e.message : String(e));
        });
      }));
      await Promise.race([configured, engine.#failed]);
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
    publishStep(c, batch, this.#chunkTicket, this.#sliceTicket);
    for (;;) {
      const done = Atomics.load(c, Control.SLICES_DONE);
      if (reached(done, slicesEnd)) break;
      if (Atomics.load(c, Control.FAILED) !== 0) {
        await this.#awaitFailureMessage();
        this.#throwIfFailed();
      }
      const wait = Atomics.waitAsync(c, Control.SLICES_DONE, done, WAIT_SLICE_MS);
      if (wait.async) await wait.value;
    }
    this.#chunkTicket = (this.#chunkTicket + chunks) | 0;
    this.#sliceTicket = slicesEnd;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    publishStop(this.#control);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#runs),
      new Promise((resolve) => timer = setTimeout(resolve, STOP_GRACE_MS)),
    ]);
    clearTimeout(timer);
    for (const thread of this.#threads) thread.terminate();
  }

  #fail(index: number, message: string): void {
    this.#failure ??= new WorkerError(`worker ${index}: ${message}`);
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
 * from `step` on in which it claims one (0: while it is being configured): a hook for fault tests.
 */
function faultFromEnvironment(): { worker: number; step: number } | undefined {
  const spec = environmentVariable("SHARDNET_FAULT");
  const match = spec ? /^(\d+):(\d+)$/.exec(spec) : null;
  return match ? { worker: Number(match[1]), step: Number(match[2]) } : undefined;
}
