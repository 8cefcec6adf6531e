import type { TrainOptions } from "../train/train.ts";

/**
 * The `train` options a sweep can vary: those whose value is a plain number or string, except
 * `workers` (each run of a sweep computes in one thread).
 */
export type AxisKey = Exclude<
  {
    [K in keyof TrainOptions]-?: NonNullable<TrainOptions[K]> extends number | string ? K : never;
  }[keyof TrainOptions],
  "workers"
>;

/** The values to try for each varied option; an option left out keeps the sweep's base value. */
export type SweepAxes = { readonly [K in AxisKey]?: readonly NonNullable<TrainOptions[K]>[] };

/** One point of the grid: a value for each varied option. */
export type SweepConfig = { readonly [K in AxisKey]?: NonNullable<TrainOptions[K]> };

/**
 * How many configurations `axes` expands to: the product of the list lengths (1 for no axes).
 *
 * @example
 * ```ts
 * gridSize({ learningRate: [0.1, 0.5], hidden: [8, 16, 32] }); // 6
 * ```
 */
export function gridSize(axes: SweepAxes): number {
  let size = 1;
  for (const values of Object.values(axes)) size *= values.length;
  return size;
}

/**
 * Every combination of the axes' values, the first axis varying slowest, in the order the axes
 * and their values are given. An axis without values, or with a value twice, is a RangeError:
 * the grid would be empty or repeat runs.
 *
 * @example
 * ```ts
 * expandGrid({ learningRate: [0.1, 0.5], seed: [1, 2] });
 * // [{ learningRate: 0.1, seed: 1 }, { learningRate: 0.1, seed: 2 },
 * //  { learningRate: 0.5, seed: 1 }, { learningRate: 0.5, seed: 2 }]
 * ```
 */
export function expandGrid(axes: SweepAxes): SweepConfig[] {
  const entries = Object.entries(axes) as [AxisKey, readonly (number | string)[]][];
  for (const [key, values] of entries) {
    if (values.length === 0) throw new RangeError(`${key}: no values to try`);
    const repeated = values.find((v, i) => values.indexOf(v) !== i);
    if (repeated !== undefined) throw new RangeError(`${key}: ${repeated} is given twice`);
  }
  let configs: Record<string, number | string>[] = [{}];
  for (const [key, values] of entries) {
    configs = configs.flatMap((config) => values.map((v) => ({ ...config, [key]: v })));
  }
  return configs as SweepConfig[];
}
