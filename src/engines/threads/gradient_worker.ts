/**
 * A worker thread of a data-parallel run. The coordinator configures it over comlink, then
 * starts `run`, which serves steps published in shared memory until told to stop: claim chunks and
 * compute their partial gradients until none is left, wait until every chunk of the step is done,
 * then claim slices of the parameters and reduce and update them until none is left.
 */
import * as Comlink from "comlink";
import { loadKernels } from "../../kernels/select.ts";
import { type WorkerConfig } from "./worker_config.ts";
import {
  awaitCommand,
  awaitDone,
  claim,
  Command,
  Control,
  countDone,
  markFailed,
  readPublished,
  RunAborted,
} from "./control.ts";
import { exitWorkerThread } from "../../runtime/process.ts";
import { StepShare } from "../../core/step_share.ts";
import { paramSlice, reduceSlices } from "../../core/shards.ts";
import { Phase, StepValue, workspaceViews } from "../../core/workspace.ts";

let configured: {
  config: WorkerConfig;
  share: StepShare;
  control: Int32Array;
  stepValues: Float64Array;
  phaseTimes: Float64Array;
  /** The generation at configuration: the coordinator publishes no step before we are configured. */
  generation: number;
} | null = null;

const api = {
  async configure(config: WorkerConfig): Promise<void> {
    if (config.fault?.worker === config.index && config.fault.step === 0) {
      throw new Error("injected fault while configuring");
    }
    const ws = workspaceViews(config.memory, config.layout);
    const kernels = await loadKernels(
      config.backend,
      config.layout.shape.dtype,
      config.memory,
      config.kernelVariant,
      config.wasmModule,
    );
    const share = new StepShare(kernels, ws, config.index);
    const generation = Atomics.load(ws.control, Control.GENERATION);
    configured = {
      config,
      share,
      control: ws.control,
      stepValues: ws.stepValues,
      phaseTimes: ws.phaseTimes,
      generation,
    };
  },

  run(): void {
    if (!configured) throw new Error("run before configure");
    const { config, share, control, stepValues, generation, phaseTimes } = configured;
    const { index, workers, layout, fault } = config;
    const slices = reduceSlices(layout.paramCount, workers);
    const holding = Control.HOLDING + index;
    const times = phaseTimes.subarray(index * 3, index * 3 + 3);
    // Each piece of work is timed before it is counted done, so that whoever reads the phase
    // times between steps finds this step's compute and reduction in them.
    let t = 0;
    const spent = (phase: number) => {
      const now = performance.now();
      times[phase] += now - t;
      t = now;
    };
    let seen = generation;
    try {
      for (;;) {
        seen = awaitCommand(control, seen);
        const step = readPublished(control, seen);
        // null: the coordinator published again while we read; the next await returns that.
        if (step === null) continue;
        if (step.command === Command.STOP) return;
        // Each command advances the generation by 2; this worker may have slept through steps.
        const number = ((seen - generation) | 0) / 2;
        const faulty = fault !== undefined && fault.worker === index && number >= fault.step;
        const { batch, chunkBase, sliceBase } = step;
        // Written before the step was published; NaN: sum the gradient only.
        const learningRate = stepValues[StepValue.LEARNING_RATE];
        const stepCount = stepValues[StepValue.STEP];
        const rows = batch.end - batch.begin;
        const chunks = share.chunks(batch);
        const chunksEnd = (chunkBase + chunks) | 0;
        t = performance.now();
        for (let c = claim(control, Control.NEXT_CHUNK, chunkBase, chunks); c >= 0;) {
          Atomics.store(control, holding, c + 1);
          // Holding a claimed chunk, so that the step cannot finish without this worker.
          if (faulty && fault.exit) return exitWorkerThread();
          if (faulty) throw new Error(`injected fault at step ${number}`);
          share.computeChunks(batch, c, c + 1);
          Atomics.store(control, holding, 0);
          spent(Phase.COMPUTE);
          countDone(control, Control.CHUNKS_DONE, chunksEnd);
          c = claim(control, Control.NEXT_CHUNK, chunkBase, chunks);
        }
        awaitDone(control, Control.CHUNKS_DONE, chunksEnd);
        spent(Phase.BARRIER);
        for (let s = claim(control, Control.NEXT_SLICE, sliceBase, slices); s >= 0;) {
          Atomics.store(control, holding, -1 - s);
          const slice = paramSlice(layout.paramCount, s, slices);
          share.reduceSlice(chunks, slice);
          if (!Number.isNaN(learningRate)) {
            share.updateSlice(slice, learningRate, rows, stepCount);
          }
          Atomics.store(control, holding, 0);
          spent(Phase.REDUCE);
          countDone(control, Control.SLICES_DONE, (sliceBase + slices) | 0);
          s = claim(control, Control.NEXT_SLICE, sliceBase, slices);
        }
      }
    } catch (e) {
      if (e instanceof RunAborted) return;
      markFailed(control, index);
      throw e;
    }
  },
};

/** The worker's remote interface, as the coordinator sees it through comlink. */
export type GradientWorkerApi = typeof api;

Comlink.expose(api);
