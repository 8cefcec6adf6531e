/**
 * A worker thread of a data-parallel run. The coordinator configures it over comlink, then
 * starts `run`, which serves steps published in shared memory until told to stop: claim chunks and
 * compute their partial gradients until none is left, meet the others at a barrier, reduce and
 * update this worker's slice of the parameters.
 */
import * as Comlink from "comlink";
import { loadKernels } from "../src/kernels/select.ts";
import { type WorkerConfig } from "../src/parallel/worker_config.ts";
import {
  awaitCommand,
  barrier,
  claimChunk,
  Command,
  Control,
  markFailed,
  RunAborted,
} from "../src/parallel/control.ts";
import { GradientShard } from "../src/train/gradient_shard.ts";
import { paramSlice } from "../src/train/shards.ts";
import { Phase, workspaceViews } from "../src/train/workspace.ts";

let configured: {
  config: WorkerConfig;
  shard: GradientShard;
  control: Int32Array;
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
    const kernels = await loadKernels(config.backend, config.layout.shape.dtype, config.memory);
    const shard = new GradientShard(kernels, ws, config.index, config.learningRate);
    const generation = Atomics.load(ws.control, Control.GENERATION);
    configured = { config, shard, control: ws.control, phaseTimes: ws.phaseTimes, generation };
  },

  run(): void {
    if (!configured) throw new Error("run before configure");
    const { config, shard, control, generation, phaseTimes } = configured;
    const { index, workers, layout } = config;
    const slice = paramSlice(layout.paramCount, index, workers);
    const times = phaseTimes.subarray(index * 3, index * 3 + 3);
    let seen = generation;
    let step = 0;
    try {
      for (;;) {
        seen = awaitCommand(control, seen);
        if (Atomics.load(control, Control.COMMAND) === Command.STOP) return;
        step++;
        if (config.fault && config.fault.worker === index && config.fault.step === step) {
          throw new Error(`injected fault at step ${step}`);
        }
        const batch = {
          begin: Atomics.load(control, Control.BATCH_BEGIN),
          end: Atomics.load(control, Control.BATCH_END),
          shuffled: Atomics.load(control, Control.BATCH_SHUFFLED) === 1,
        };
        const chunks = shard.chunks(batch);
        const t0 = performance.now();
        for (let c = claimChunk(control); c < chunks; c = claimChunk(control)) {
          shard.computeChunks(batch, c, c + 1);
        }
        const t1 = performance.now();
        barrier(control, workers);
        const t2 = performance.now();
        shard.reduceSlice(batch, slice);
        times[Phase.COMPUTE] += t1 - t0;
        times[Phase.BARRIER] += t2 - t1;
        times[Phase.REDUCE] += performance.now() - t2;
        if (Atomics.add(control, Control.DONE, 1) + 1 === workers) {
          Atomics.notify(control, Control.DONE);
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
