import type { TrainResult } from "../train/train.ts";

/** How two training runs of the same configuration differ. */
export interface RunDiff {
  /** Per epoch: [loss of run a, loss of run b]. */
  readonly losses: readonly (readonly [number, number])[];
  /** The first epoch (from 1) whose losses differ in any bit, or null. */
  readonly firstLossDifference: number | null;
  readonly maxLossDifference: number;
  readonly parameters: number;
  readonly maxParamDifference: number;
  /** Index of the parameter with the largest difference, or null when none differs. */
  readonly maxParamIndex: number | null;
  /** Whether the final parameters are the same bits, every one. */
  readonly bitIdentical: boolean;
}

/**
 * Compares two runs: their loss curves epoch by epoch and their final parameters bit by bit.
 *
 * @example
 * ```ts
 * const diff = diffRuns(await train(data, { epochs: 50, workers: 0 }), await train(data, { epochs: 50, workers: 3 }));
 * diff.bitIdentical; // true
 * ```
 */
export function diffRuns(a: TrainResult, b: TrainResult): RunDiff {
  const losses = a.history.map((r, i) => [r.loss, b.history[i]?.loss ?? NaN] as const);
  const first = losses.findIndex(([x, y]) => !Object.is(x, y));
  const pa = a.model.params;
  const pb = b.model.params;
  let maxParamDifference = 0;
  let maxParamIndex: number | null = null;
  for (let i = 0; i < pa.length; i++) {
    const d = Math.abs(pa[i] - pb[i]);
    if (d > maxParamDifference || (maxParamIndex === null && !Object.is(pa[i], pb[i]))) {
      maxParamDifference = d;
      maxParamIndex = i;
    }
  }
  return {
    losses,
    firstLossDifference: first < 0 ? null : first + 1,
    maxLossDifference: Math.max(0, ...losses.map(([x, y]) => Math.abs(x - y))),
    parameters: pa.length,
    maxParamDifference,
    maxParamIndex,
    bitIdentical: pa.length === pb.length && sameBits(pa, pb),
  };
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const y = new BigUint64Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}

/**
 * The name of flat parameter `index` of a network with `n` inputs and `h` hidden units, in the
 * layout W1 | b1 | W2 | b2.
 *
 * @example
 * ```ts
 * parameterName(33, 30, 8); // "W1[1,3]"
 * ```
 */
export function parameterName(index: number, n: number, h: number): string {
  if (index < h * n) return `W1[${Math.floor(index / n)},${index % n}]`;
  if (index < h * n + h) return `b1[${index - h * n}]`;
  if (index < h * n + 2 * h) return `W2[${index - h * n - h}]`;
  return "b2";
}
