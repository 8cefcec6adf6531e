import type { OptimizerOptions } from "../core/optimizer.ts";
import type { BackendChoice } from "../kernels/select.ts";
import { runtimeName } from "../runtime/process.ts";
import { train } from "../train/train.ts";
import { loadShape } from "./measure_train.ts";
import type { Shape } from "./jobs.ts";
import { type Spread, spread } from "./spread.ts";
import { Phase } from "../core/workspace.ts";

/** The optimizers compared, each against plain sgd. */
const COMPARED: readonly { readonly name: string; readonly options: OptimizerOptions }[] = [
  { name: "sgd", options: {} },
  { name: "sgd momentum", options: { momentum: 0.9 } },
  { name: "adam", options: { kind: "adam" } },
  { name: "adamw", options: { kind: "adamw" } },
];

/** What `measureOptimizers` found. */
export interface OptimizerComparison {
  readonly runtime: string;
  readonly backend: string;
  readonly shape: Shape;
  readonly workers: number;
  readonly rounds: number;
  /** Per optimizer: the spread over rounds of each round's median epoch, in milliseconds. */
  readonly epochMs: Readonly<Record<string, Spread>>;
  /** Per optimizer: the spread over rounds of its median epoch ÷ sgd's median epoch that round. */
  readonly ratioToSgd: Readonly<Record<string, Spread>>;
  /**
   * Per optimizer: the spread over rounds of the reduce+update phase per timed epoch, in
   * milliseconds, averaged over the computing threads (the phase the update belongs to; it
   * varies less with the machine's load than whole epochs do).
   */
  readonly reduceUpdateMs: Readonly<Record<string, Spread>>;
}

/**
 * Times the epochs of each optimizer side by side in this process: in every round, one run of
 * each (in an order that rotates from round to round, so a slow spell of a shared machine falls
 * on all of them alike), `warmup` untimed epochs then `repeats` timed ones. A round's ratio
 * compares medians of the same round, so the machine's drift between rounds cancels.
 *
 * @example
 * ```ts
 * const c = await measureOptimizers(preset("L", false), 2, "auto", 5, 10, 20);
 * c.ratioToSgd.adam.median; // adam's epoch over sgd's
 * ```
 */
export async function measureOptimizers(
  shape: Shape,
  workers: number,
  backend: BackendChoice,
  rounds: number,
  warmup: number,
  repeats: number,
): Promise<OptimizerComparison> {
  const rows = loadShape(shape);
  const medians: Record<string, number[]> = {};
  const reduce: Record<string, number[]> = {};
  for (const { name } of COMPARED) {
    medians[name] = [];
    reduce[name] = [];
  }
  let ran = "";
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < COMPARED.length; i++) {
      const { name, options } = COMPARED[(i + round) % COMPARED.length];
      const epochs: number[] = [];
      let atWarmup = 0;
      const reduceTotal = (phaseMs: () => number[][]) =>
        phaseMs().reduce((sum, thread) => sum + thread[Phase.REDUCE], 0);
      const result = await train(rows, {
        hidden: shape.hidden,
        epochs: warmup + repeats,
        dtype: shape.dtype,
        workers,
        backend,
        // A small rate: the comparison is of time, and no optimizer may diverge meanwhile.
        learningRate: 1e-3,
        optimizer: options,
        onEpoch: (report, _, phaseMs) => {
          epochs.push(report.ms);
          if (report.epoch === warmup) atWarmup = reduceTotal(phaseMs);
        },
      });
      ran = result.backend;
      medians[name].push(spread(epochs.slice(warmup)).median);
      const threads = result.phaseMs.length;
      reduce[name].push(
        (reduceTotal(() => result.phaseMs.map((t) => [...t])) - atWarmup) /
          (repeats * threads),
      );
    }
  }
  const epochMs: Record<string, Spread> = {};
  const ratioToSgd: Record<string, Spread> = {};
  const reduceUpdateMs: Record<string, Spread> = {};
  for (const { name } of COMPARED) {
    epochMs[name] = spread(medians[name]);
    reduceUpdateMs[name] = spread(reduce[name]);
    ratioToSgd[name] = spread(medians[name].map((ms, r) => ms / medians.sgd[r]));
  }
  return {
    runtime: runtimeName(),
    backend: ran,
    shape,
    workers,
    rounds,
    epochMs,
    ratioToSgd,
    reduceUpdateMs,
  };
}
