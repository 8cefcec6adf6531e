import type { Shape } from "./jobs.ts";

/** What one benchmark workload trains, full batch, and how many epochs it times. */
export interface Workload extends Shape {
  /** Epochs run before timing starts: the JIT compiles the kernels in every thread during these. */
  readonly warmup: number;
  /** Timed epochs; their spread is what the report shows. */
  readonly repeats: number;
  /**
   * Scaling is measured in this many rounds, each over every worker count, the timed epochs split
   * among them: a slow spell of the shared machine then falls on every worker count alike instead
   * of on whichever ran during it. More rounds cost more process starts and warm-ups.
   */
  readonly rounds: number;
  /**
   * Worker-process counts of a loopback cluster to train it on as well, in the same rounds as the
   * worker threads; none when absent.
   */
  readonly cluster?: readonly number[];
}

/** The named presets; `small` is the bundled data set, L and XL are sized to keep cores busy. */
export const PRESET_NAMES = ["small", "L", "XL"] as const;
export type PresetName = typeof PRESET_NAMES[number];

/**
 * A preset workload. Small epochs take tens of microseconds, so they are timed many at a time,
 * after a warm-up long enough for the JIT to finish with the step's code (on Deno the epochs of a
 * fresh process keep getting faster for the first 100–400); the counts suit the fast backends (an L epoch is tens of milliseconds with wasm or blas, about a
 * second with js, where `--repeats` trims them); `quick` trades repetitions for time.
 *
 * @example
 * ```ts
 * preset("L", false); // xor, 32768 × 256, h = 64, f32
 * ```
 */
export function preset(name: PresetName, quick: boolean): Workload {
  switch (name) {
    case "small":
      return {
        name,
        data: "data/breast_cancer.csv",
        samples: 0,
        features: 0,
        hidden: 16,
        dtype: "f64",
        warmup: quick ? 200 : 500,
        repeats: quick ? 500 : 3000,
        rounds: quick ? 2 : 5,
        // One step per epoch: the cluster's cost per step beside the main thread's.
        cluster: [1, 2],
      };
    case "L":
      return {
        name,
        data: "xor",
        samples: 32768,
        features: 256,
        hidden: 64,
        dtype: "f32",
        // The JIT keeps compiling for tens of epochs, and at 2 workers its threads take turns with
        // the workers on the two cores (at 0 the second core is free for it): on Bun with blas,
        // epochs 4-5 took 25.6 ms and 13-25 23.8 ms in one series; in another, epochs 5-15 took
        // 22-25 ms and 18-24 19.5-22 ms. A training run's median epoch comes after all that.
        warmup: quick ? 2 : 40,
        repeats: quick ? 10 : 24,
        rounds: quick ? 2 : 12,
      };
    case "XL":
      return {
        name,
        data: "xor",
        samples: 262144,
        features: 256,
        hidden: 64,
        dtype: "f32",
        warmup: 2,
        repeats: 10,
        rounds: 3,
      };
  }
}

/**
 * Floating-point operations in one full-batch epoch over m rows, n features, h hidden units:
 * the two m·n·h products, W1·X forward and dZ1·Xᵀ backward, at 2·m·n·h each, plus the layer-2
 * products (Z2, dW2: 2·m·h each; dZ1 = dZ2·W2ᵀ and Σ dZ1: m·h each). Bias, ReLU and sigmoid are
 * not counted. No dX = W1ᵀ·dZ1 term: the input is data, so its gradient is never computed.
 *
 * @example
 * ```ts
 * flopsPerEpoch(32768, 256, 64); // ≈ 2.16e9
 * ```
 */
export function flopsPerEpoch(m: number, n: number, h: number): number {
  return 4 * m * n * h + 6 * m * h;
}

/** The formula of `flopsPerEpoch`, as reports print it. */
export const FLOPS_FORMULA = "4·m·n·h + 6·m·h";
