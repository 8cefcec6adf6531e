import * as Comlink from "comlink";
import { WorkerError } from "../../errors.ts";
import type { BackendName } from "../../kernels/select.ts";
import type { StepEngine, StepInput, StepOutput } from "../../core/step_engine.ts";
import { StepIo } from "../../core/step_io.ts";
import { StepValue, type WorkspaceViews } from "../../core/workspace.ts";
import type { GradientWorkerApi } from "./gradient_worker.ts";
import { compileWasmKernels, type WasmVariant } from "../../kernels/wasm.ts";
import { chunkCount, reduceSlices } from "../../core/shards.ts";
import { Control, markFailed, publishStep, publishStop, reached } from "./control.ts";
import type { WorkerConfig, WorkerFault } from "./worker_config.ts";
import { environmentVariable } from "../../runtime/process.ts";

/** How a thread engine is started. */
export interface ThreadEngineOptions {
  /** The workspace the workers share, planned for `workers` threads. */
  readonly workspace: WorkspaceViews;
  readonly workers: number;
  readonly backend: BackendName;
  /** Aborts the start-up: the workers started so far are terminated and `start` rejects. */
  readonly signal?: AbortSignal;
  /** The wasm build every worker runs; null for the js backend. */
  readonly kernelVariant: WasmVariant | null;
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
/**
 * Workers loading at once. Hundreds starting together share the cores so that none finishes
 * loading within the stall time; a few at a time, each is configured soon after it starts, so
 * the start-up watchdog (no worker configured for `STALL_MS`) holds for any worker count, and a
 * signal is acted on between spawns.
 */
const START_CONCURRENCY = 8;

// The package ships this module compiled to JavaScript, beside a compiled worker.
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./gradient_worker.ts" : "./gradient_worker.js",
  import.meta.url,
);

/**
 * Data-parallel steps on worker threads that share the workspace memory: the data set is read
 * in place, parameters and partial gradients live in shared buffers, and each step is published
 * in shared memory and drained by the workers as two queues of tickets, chunks then reduction
 * slices (see control.ts), with no per-step messages.
 */
export class ThreadEngine implements StepEngine {
  readonly kind = "threads";
  readonly workers: number;
  readonly #threads: Worker[];
  readonly #runs: Promise<void>[];
  readonly #control: Int32Array;
  readonly #stepValues: Float64Array;
  readonly #io: StepIo;
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
    workspace: WorkspaceViews,
  ) {
    this.workers = workers;
    this.#threads = threads;
    this.#runs = runs;
    this.#control = workspace.control;
    this.#stepValues = workspace.stepValues;
    this.#io = new StepIo(workspace);
    this.#chunkRows = workspace.layout.chunkRows;
    this.#slices = reduceSlices(workspace.layout.paramCount, workers);
    this.#failed = new Promise<never>((_, reject) => this.#rejectFailed = reject);
    this.#failed.catch(() => {});
  }

  /**
   * Spawns and configures the workers and starts their step loops.
   *
   * @example
   * ```ts
   * const engine = await ThreadEngine.start({
   *   workspace,
   *   workers: 2,
   *   backend: "js",
   *   kernelVariant: null,
   * });
   * const batch = { begin: 0, end: 569, shuffled: false };
   * try {
   *   await engine.step({ batch, order: null, epoch: 1, learningRate: 0.5, step: 1 });
   * } finally {
   *   await engine.close();
   * }
   * ```
   */
  static async start(options: ThreadEngineOptions): Promise<ThreadEngine> {
    const { workspace, workers, signal } = options;
    const threads: Worker[] = [];
    const runs: Promise<void>[] = [];
    const engine = new ThreadEngine(workers, threads, runs, workspace);
    const fault = faultFromEnvironment();
    const remotes: Comlink.Remote<GradientWorkerApi>[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort = () => {};
    try {
      signal?.throwIfAborted();
      const { kernelVariant } = options;
      const wasmModule = kernelVariant === null ? null : await compileWasmKernels(kernelVariant);
      const pending = new Set(Array.from({ length: workers }, (_, index) => index));
      let rejectStalled: (e: Error) => void = () => {};
      const stalled = new Promise<never>((_, reject) => rejectStalled = reject);
      const watch = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const index = pending.values().next().value ?? 0;
          rejectStalled(
            new WorkerError(
              `worker ${index}: not configured after ${seconds(engine.#stallMs)} ` +
                `(${workers - pending.size} of ${workers} workers were)`,
            ),
          );
        }, engine.#stallMs);
      };
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal!.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < workers) {
          const index = next++;
          // A macrotask between spawns lets a signal's handler run.
          await new Promise((resolve) => setTimeout(resolve, 0));
          if (signal?.aborted || engine.#failure) return;
          const remote = engine.#spawn(index);
          remotes[index] = remote;
          const config: WorkerConfig = {
            memory: workspace.memory,
            layout: workspace.layout,
            index,
            workers,
            backend: options.backend,
            kernelVariant,
            wasmModule,
            ...(fault ? { fault } : {}),
          };
          try {
            await remote.configure(config);
            pending.delete(index);
            watch();
          } catch (e) {
            engine.#fail(index, e instanceof Error ? e.message : String(e));
            return;
          }
        }
      };
      watch();
      const lanes = Array.from({ length: Math.min(workers, START_CONCURRENCY) }, lane);
      await Promise.race([Promise.all(lanes), engine.#failed, stalled, aborted]);
      // A lane also ends early on a failure or a signal; those take precedence.
      engine.#throwIfFailed();
      signal?.throwIfAborted();
      remotes.forEach((remote, index) => {
        const run = remote.run().catch((e: unknown) => {
          engine.#fail(index, e instanceof Error ? e.message : String(e));
        });
        runs.push(run);
      });
    } catch (e) {
      await engine.close();
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    return engine;
  }

  /** Starts worker thread `index` and watches it for errors and for its end. */
  #spawn(index: number): Comlink.Remote<GradientWorkerApi> {
    const thread = new Worker(WORKER_URL.href, { type: "module" });
    thread.addEventListener("error", (event) => {
      event.preventDefault();
      this.#fail(index, (event as ErrorEvent).message || "the worker thread died");
    });
    // Bun tells when a worker's thread ends; Deno does not (the step watchdog covers it).
    thread.addEventListener("close", () => {
      if (this.#closed) return;
      this.#gone.add(index);
      this.#fail(index, "its thread exited without an error");
    });
    this.#threads[index] = thread;
    return Comlink.wrap<GradientWorkerApi>(thread);
  }

  async step(input: StepInput): Promise<StepOutput> {
    const c = this.#control;
    const { batch } = input;
    this.#throwIfFailed();
    this.#io.stage(input);
    this.#stepValues[StepValue.LEARNING_RATE] = input.learningRate ?? Number.NaN;
    this.#stepValues[StepValue.STEP] = input.step;
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
    return this.#io.output(chunks);
  }

  phaseMs(): number[][] {
    return this.#io.phaseMs(this.workers);
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
    for (const thread of this.#threads) thread?.terminate();
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
