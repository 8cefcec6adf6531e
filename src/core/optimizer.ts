import type { Floats } from "../dtype.ts";
import { UsageError } from "../errors.ts";

/** The update rules: torch.optim's SGD, Adam and AdamW. */
export const OPTIMIZER_KINDS = ["sgd", "adam", "adamw"] as const;

/** One of {@link OPTIMIZER_KINDS}. */
export type OptimizerKind = typeof OPTIMIZER_KINDS[number];

/**
 * How parameters are updated from the batch's gradient. Every field is optional; an option that
 * does not apply to `kind` is an error rather than silently ignored.
 */
export interface OptimizerOptions {
  /** Default `sgd`: with momentum 0 and no weight decay, plain gradient descent. */
  readonly kind?: OptimizerKind;
  /** sgd: momentum μ, 0 ≤ μ < 1 (default 0). */
  readonly momentum?: number;
  /** sgd: Nesterov momentum; needs μ > 0 (default false). */
  readonly nesterov?: boolean;
  /** adam, adamw: decay of the first moment, 0 ≤ β1 < 1 (default 0.9). */
  readonly beta1?: number;
  /** adam, adamw: decay of the second moment, 0 ≤ β2 < 1 (default 0.999). */
  readonly beta2?: number;
  /** adam, adamw: added to √v̂ in the denominator, ε > 0 (default 1e-8). */
  readonly eps?: number;
  /**
   * λ ≥ 0, on every parameter, biases included: sgd and adam add λ·p to the gradient, adamw
   * decays p by (1 − lr·λ) before its step (default 0; adamw 0.01).
   */
  readonly weightDecay?: number;
}

/** {@link OptimizerOptions} validated, with every default filled in. */
export interface OptimizerConfig {
  readonly kind: OptimizerKind;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

/**
 * The optimizer's state for every parameter, in float64 whatever the parameters' dtype (see
 * {@link optimizerStep}). Zeros before the first step.
 */
export interface OptimizerState {
  /** sgd with momentum: the velocity (torch's momentum_buffer); adam, adamw: the first moment m. */
  readonly first: Float64Array;
  /** adam, adamw: the second moment v. */
  readonly second: Float64Array;
}

/**
 * Validates `options` and fills in the defaults: one `UsageError` naming the option otherwise.
 *
 * @example
 * ```ts
 * const config = optimizerConfig({ kind: "adamw" }); // weightDecay 0.01, beta1 0.9, …
 * optimizerConfig({ momentum: 0.9, nesterov: true });
 * optimizerConfig({ nesterov: true }); // throws: nesterov needs momentum > 0
 * ```
 */
export function optimizerConfig(options: OptimizerOptions = {}): OptimizerConfig {
  const kind = options.kind ?? "sgd";
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`kind: expected one of ${OPTIMIZER_KINDS.join(", ")}, got "${kind}"`);
  }
  const sgd = kind === "sgd";
  const onlyFor = (name: keyof OptimizerOptions, kinds: string) => {
    if (options[name] !== undefined) {
      throw new UsageError(`${name} applies to ${kinds} only, not to ${kind}`);
    }
  };
  if (sgd) {
    for (const name of ["beta1", "beta2", "eps"] as const) onlyFor(name, "adam and adamw");
  } else {
    for (const name of ["momentum", "nesterov"] as const) onlyFor(name, "sgd");
  }
  const momentum = fraction(options.momentum, 0, "momentum");
  const nesterov = options.nesterov ?? false;
  if (nesterov && momentum === 0) throw new UsageError("nesterov needs momentum > 0");
  const eps = options.eps ?? 1e-8;
  if (!(Number.isFinite(eps) && eps > 0)) {
    throw new UsageError(`eps: expected a number > 0, got ${eps}`);
  }
  const weightDecay = options.weightDecay ?? (kind === "adamw" ? 0.01 : 0);
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new UsageError(`weightDecay: expected a number ≥ 0, got ${weightDecay}`);
  }
  return {
    kind,
    momentum,
    nesterov,
    beta1: fraction(options.beta1, 0.9, "beta1"),
    beta2: fraction(options.beta2, 0.999, "beta2"),
    eps,
    weightDecay,
  };
}

/** A value in [0, 1): a decay factor of 1 would never forget, as torch also refuses for betas. */
function fraction(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= 0 && v < 1)) {
    throw new UsageError(`${name}: expected a number ≥ 0 and < 1, got ${v}`);
  }
  return v;
}

/**
 * How many float64 arrays of the parameter count the optimizer keeps: 0 for plain sgd, 1 (the
 * velocity) for sgd with momentum, 2 (the moments) for adam and adamw.
 *
 * @example
 * ```ts
 * const buffer = new Float64Array(stateArrays(config) * paramCount(n, h));
 * ```
 */
export function stateArrays(config: OptimizerConfig): 0 | 1 | 2 {
  if (config.kind !== "sgd") return 2;
  return config.momentum === 0 ? 0 : 1;
}

/**
 * Views of the state of `count` parameters on `buffer`, which holds at least
 * `stateArrays(config) · count` float64 values from `offset` (zeros before the first step): the
 * first array, then the second. Arrays the optimizer does not keep are empty.
 *
 * @example
 * ```ts
 * const state = optimizerState(config, count, new Float64Array(stateArrays(config) * count));
 * ```
 */
export function optimizerState(
  config: OptimizerConfig,
  count: number,
  buffer: Float64Array,
  offset = 0,
): OptimizerState {
  const arrays = stateArrays(config);
  if (offset + arrays * count > buffer.length) {
    throw new RangeError(
      `optimizer state needs ${arrays * count} values at ${offset}, buffer has ${buffer.length}`,
    );
  }
  const at = (i: number) =>
    i < arrays
      ? buffer.subarray(offset + i * count, offset + (i + 1) * count)
      : buffer.subarray(0, 0);
  return { first: at(0), second: at(1) };
}

/**
 * The update of parameters p in [p0, p1) from the batch's gradient sum, as torch.optim computes
 * it, term by term and in its order, with the gradient g = sum[p] / m (m is the batch's row count):
 *
 * - sgd: d = g + λ·p; with μ > 0: b ← μ·b + d (b = d at the first step, as 0·μ + d is), and
 *   d = b, or d + μ·b with nesterov; then p ← p − lr·d. With μ = 0 and λ = 0 this is
 *   `params[p] -= lr * (sum[p] / m)`, the expression of `descend`, so plain
 *   gradient descent keeps its bits.
 * - adam: g ← g + λ·p; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g·g;
 *   p ← p + (−lr / (1 − β1ᵗ))·m / (√v / √(1 − β2ᵗ) + ε).
 * - adamw: p ← p·(1 − lr·λ), then adam's step with λ = 0.
 *
 * `sum` is indexed like `params` (the reduced Σ over the batch's rows of each parameter's
 * gradient term, unscaled); `t` counts this step from 1 across the whole run (adam's bias
 * correction); `lr` is this step's learning rate. Each thread may update its own disjoint slice:
 * nothing outside [p0, p1) is read or written, and no value depends on the slicing.
 *
 * Precision: every update is computed in float64 (JavaScript numbers) and rounded once when
 * stored into a float32 parameter, the rule the descent step has always followed, so a float32
 * run differs from float64 only by that rounding of p. The state stays float64 for float32 runs
 * too, unlike torch (which keeps it in the parameter's dtype): rounding the moments every step
 * would add error for no saving worth having (two values per parameter), and a checkpoint stores
 * the state exactly.
 *
 * Updates `params` and `state` in place; reads `sum`; allocates nothing.
 *
 * @example
 * ```ts
 * const config = optimizerConfig({ kind: "adam" });
 * const state = optimizerState(config, count, new Float64Array(2 * count));
 * optimizerStep(config, params, sum, state, 0, count, rows, 0.001, 1);
 * ```
 */
export function optimizerStep(
  config: OptimizerConfig,
  params: Floats,
  sum: Floats,
  state: OptimizerState,
  p0: number,
  p1: number,
  m: number,
  lr: number,
  t: number,
): void {
  const lambda = config.weightDecay;
  if (config.kind === "sgd") {
    const mu = config.momentum;
    if (mu === 0) {
      if (lambda === 0) {
        for (let p = p0; p < p1; p++) params[p] -= lr * (sum[p] / m);
      } else {
        for (let p = p0; p < p1; p++) params[p] -= lr * (sum[p] / m + lambda * params[p]);
      }
      return;
    }
    const b = state.first;
    const nesterov = config.nesterov;
    for (let p = p0; p < p1; p++) {
      let d = sum[p] / m;
      if (lambda !== 0) d = d + lambda * params[p];
      const v = b[p] * mu + d;
      b[p] = v;
      params[p] -= lr * (nesterov ? d + mu * v : v);
    }
    return;
  }
  const { beta1, beta2, eps } = config;
  const first = state.first;
  const second = state.second;
  // torch computes these per step in Python floats: the same float64 operations.
  const stepSize = lr / (1 - beta1 ** t);
  const correction2 = Math.sqrt(1 - beta2 ** t);
  const keep1 = 1 - beta1;
  const keep2 = 1 - beta2;
  const adamw = config.kind === "adamw";
  const decay = 1 - lr * lambda;
  for (let p = p0; p < p1; p++) {
    let g = sum[p] / m;
    let w: number = params[p];
    if (adamw) w = w * decay;
    else if (lambda !== 0) g = g + lambda * w;
    const mt = first[p] * beta1 + keep1 * g;
    const vt = second[p] * beta2 + keep2 * g * g;
    first[p] = mt;
    second[p] = vt;
    // torch's addcdiv: p + value·m / denom, evaluated as (value·m) / denom.
    params[p] = w + -stepSize * mt / (Math.sqrt(vt) / correction2 + eps);
  }
}
