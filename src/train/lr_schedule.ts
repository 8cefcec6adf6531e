import { UsageError } from "../errors.ts";

/** How the learning rate changes from epoch to epoch. */
export const LR_SCHEDULE_KINDS = ["constant", "step", "exponential", "cosine"] as const;

/** One of {@link LR_SCHEDULE_KINDS}. */
export type LrScheduleKind = typeof LR_SCHEDULE_KINDS[number];

/**
 * The learning-rate schedule. An option that does not belong to `kind` is an error rather than
 * silently ignored; `warmupEpochs` goes with every kind.
 */
export interface LrScheduleOptions {
  /** Default `constant`. */
  readonly kind?: LrScheduleKind;
  /** step: K, the epochs between two decays, an integer ≥ 1 (required). */
  readonly stepEpochs?: number;
  /** step, exponential: G, the decay factor, 0 < G ≤ 1 (step: default 0.1; exponential: required). */
  readonly gamma?: number;
  /** cosine: A, the rate approached at the last epoch, 0 ≤ A ≤ the learning rate (default 0). */
  readonly minLearningRate?: number;
  /** W: the rate ramps up linearly over the first W epochs, an integer ≥ 0 (default 0: none). */
  readonly warmupEpochs?: number;
}

/** A schedule validated against its run's learning rate and epochs, every default filled in. */
export interface LrSchedule {
  readonly kind: LrScheduleKind;
  /** The base rate lr. */
  readonly learningRate: number;
  /** E, the run's epochs in total. */
  readonly epochs: number;
  /** 0 unless kind is step. */
  readonly stepEpochs: number;
  /** 1 unless kind is step or exponential. */
  readonly gamma: number;
  /** 0 unless kind is cosine. */
  readonly minLearningRate: number;
  readonly warmupEpochs: number;
}

/**
 * Validates a schedule for a run of `epochs` epochs at base rate `learningRate` (both assumed
 * valid: lr > 0, epochs an integer ≥ 1) and fills in its defaults; one `UsageError` naming the
 * option otherwise.
 *
 * @example
 * ```ts
 * const schedule = lrSchedule({ kind: "cosine", warmupEpochs: 5 }, 0.01, 100);
 * lrSchedule({ gamma: 0.5 }, 0.01, 100); // throws: gamma applies to the step and exponential …
 * ```
 */
export function lrSchedule(
  options: LrScheduleOptions,
  learningRate: number,
  epochs: number,
): LrSchedule {
  const kind = options.kind ?? "constant";
  if (!(LR_SCHEDULE_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`kind: expected one of ${LR_SCHEDULE_KINDS.join(", ")}, got "${kind}"`);
  }
  const onlyFor = (name: keyof LrScheduleOptions, kinds: readonly LrScheduleKind[]) => {
    if (options[name] !== undefined && !kinds.includes(kind)) {
      throw new UsageError(
        `${name} applies to the ${kinds.join(" and ")} schedule only, not to ${kind}`,
      );
    }
  };
  onlyFor("stepEpochs", ["step"]);
  onlyFor("gamma", ["step", "exponential"]);
  onlyFor("minLearningRate", ["cosine"]);

  const stepEpochs = options.stepEpochs;
  if (kind === "step" && stepEpochs === undefined) {
    throw new UsageError("the step schedule needs stepEpochs");
  }
  if (stepEpochs !== undefined && !(Number.isInteger(stepEpochs) && stepEpochs >= 1)) {
    throw new UsageError(`stepEpochs: expected an integer ≥ 1, got ${stepEpochs}`);
  }
  if (kind === "exponential" && options.gamma === undefined) {
    throw new UsageError("the exponential schedule needs gamma");
  }
  const gamma = options.gamma ?? (kind === "step" ? 0.1 : 1);
  if (!(Number.isFinite(gamma) && gamma > 0 && gamma <= 1)) {
    throw new UsageError(`gamma: expected a number > 0 and ≤ 1, got ${gamma}`);
  }
  const minLearningRate = options.minLearningRate ?? 0;
  if (
    !(Number.isFinite(minLearningRate) && minLearningRate >= 0 && minLearningRate <= learningRate)
  ) {
    throw new UsageError(
      `minLearningRate: expected a number ≥ 0 and ≤ the learning rate ${learningRate}, ` +
        `got ${minLearningRate}`,
    );
  }
  const warmupEpochs = options.warmupEpochs ?? 0;
  if (!(Number.isInteger(warmupEpochs) && warmupEpochs >= 0)) {
    throw new UsageError(`warmupEpochs: expected an integer ≥ 0, got ${warmupEpochs}`);
  }
  return {
    kind,
    learningRate,
    epochs,
    stepEpochs: stepEpochs ?? 0,
    gamma,
    minLearningRate,
    warmupEpochs,
  };
}

/**
 * The learning rate of epoch `e` (counted from 0), lr·f(e)·w(e) with
 * f = 1 (constant), G^⌊e/K⌋ (step), G^e (exponential), (A + (lr − A)(1 + cos(π·e/E))/2)/lr
 * (cosine), and w(e) = min(1, (e + 1)/W) when W > 0, else 1. A constant schedule without warm-up
 * gives lr itself, bit for bit. The rate is the same for every step of the epoch.
 *
 * @example
 * ```ts
 * const lr = scheduledLearningRate(lrSchedule({ kind: "step", stepEpochs: 10 }, 0.1, 50), 25);
 * // 0.1 · 0.1² = 0.001 (up to rounding)
 * ```
 */
export function scheduledLearningRate(schedule: LrSchedule, e: number): number {
  const { learningRate: lr, gamma: g, warmupEpochs: w } = schedule;
  let rate: number;
  switch (schedule.kind) {
    case "constant":
      rate = lr;
      break;
    case "step":
      rate = lr * g ** Math.floor(e / schedule.stepEpochs);
      break;
    case "exponential":
      rate = lr * g ** e;
      break;
    case "cosine": {
      // lr·f(e) with the division by lr cancelled: A + (lr − A)(1 + cos(π e / E))/2.
      const a = schedule.minLearningRate;
      rate = a + (lr - a) * (1 + Math.cos(Math.PI * e / schedule.epochs)) / 2;
      break;
    }
  }
  return w > 0 && e + 1 < w ? rate * ((e + 1) / w) : rate;
}
