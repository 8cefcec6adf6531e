import type { Standardization } from "../data/standardize.ts";
import type { EpochReport, TrainState } from "../train/train.ts";
import { runtimeName } from "../runtime/process.ts";
import { type Checkpoint, type RunConfig, writeCheckpoint } from "./checkpoint.ts";

/** Without `--checkpoint-every`, an epoch that ends this long after the last save is saved. */
export const SAVE_INTERVAL_MS = 5000;

/** What every checkpoint of a run has in common, and when to write one. */
export interface CheckpointPolicyOptions {
  readonly path: string;
  /** Save after every epoch whose number is a multiple of this; absent: by time. */
  readonly every?: number;
  readonly config: RunConfig;
  readonly dataFingerprint: string;
  readonly standardization: Standardization | null;
  /** Steps per epoch, to record the steps taken. */
  readonly stepsPerEpoch: number;
  /** The checkpoint a resumed run starts from, so that a stop before its first epoch keeps it. */
  readonly resumedFrom?: Checkpoint;
  /** `kernelIdentity` of the run's kernels, recorded as the writer's. */
  readonly identity?: string;
  /** Milliseconds on a monotonic clock (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * Decides when a run's state goes to its checkpoint file: after every K-th epoch, or by default
 * after an epoch that ends `SAVE_INTERVAL_MS` after the last save (frequent enough to lose little,
 * rare enough that the write costs nothing measurable); and, through `flush`, at the end, on a
 * signal and when training fails. It keeps the latest completed epoch's state in memory for that,
 * since the parameters in the workspace move on with the next step.
 *
 * @example
 * ```ts
 * const policy = new CheckpointPolicy({ path: "run.ckpt", config, dataFingerprint, standardization: null, stepsPerEpoch: 1 });
 * await train(data, { epochs, onEpoch: (r, snapshot) => policy.epoch(r, snapshot) });
 * policy.flush();
 * ```
 */
export class CheckpointPolicy {
  readonly #options: CheckpointPolicyOptions;
  readonly #now: () => number;
  #lastSave: number;
  #latest: Checkpoint | undefined;
  #written = false;

  constructor(options: CheckpointPolicyOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#lastSave = this.#now();
    this.#latest = options.resumedFrom && { ...options.resumedFrom, config: options.config };
  }

  /** Records the state after an epoch and writes it when it is due. */
  epoch(report: EpochReport, snapshot: () => TrainState): void {
    const { epoch, params, shuffleState, steps, optimizerState, best } = snapshot();
    const o = this.#options;
    this.#latest = {
      epoch,
      steps: steps ?? epoch * o.stepsPerEpoch,
      params,
      shuffleState,
      ...(optimizerState ? { optimizerState } : {}),
      ...(best !== undefined ? { best } : {}),
      loss: report.loss,
      config: o.config,
      standardization: o.standardization,
      dataFingerprint: o.dataFingerprint,
      writer: {
        runtime: runtimeName(),
        backend: o.config.backend,
        ...(o.identity !== undefined ? { identity: o.identity } : {}),
      },
    };
    this.#written = false;
    const due = o.every !== undefined
      ? epoch % o.every === 0
      : this.#now() - this.#lastSave >= SAVE_INTERVAL_MS;
    if (due) this.flush();
  }

  /** Writes the latest state unless it is on disk already; returns its epoch (none before one). */
  flush(): number | undefined {
    const latest = this.#latest;
    if (latest && !this.#written) {
      writeCheckpoint(this.#options.path, latest);
      this.#written = true;
      this.#lastSave = this.#now();
    }
    return latest?.epoch;
  }
}
