import { UsageError } from "../errors.ts";
import { Rng } from "../rng.ts";
import { checkMemory, hostMemoryLimit } from "../runtime/memory_limit.ts";
import type { Dataset } from "./dataset.ts";

/** The synthetic data sets that {@link generate} makes. */
export const GENERATOR_KINDS = ["xor", "circles", "spirals", "blobs"] as const;

/** One of {@link GENERATOR_KINDS}. */
export type GeneratorKind = typeof GENERATOR_KINDS[number];

/**
 * A synthetic two-class data set, the same for the same arguments; at least 2 samples, so that
 * both classes are present, and no more than the machine's memory holds (a `MemoryLimitError`
 * before allocating). Half the samples (rounded down) are class 0, in shuffled order; each kind is learnable to 90% accuracy by one hidden layer
 * of 16–64 ReLU units. Features beyond those a kind defines are uniform noise in [-1, 1].
 * - `xor`: features uniform in [-1, 1], label 1 where x0·x1 > 0.
 * - `circles`: x0, x1 on a ring of radius 0.5 (label 1) or 1 (label 0), with noise.
 * - `spirals`: x0, x1 on one of two interleaved spirals of one turn, with noise.
 * - `blobs`: two unit Gaussians whose centres differ in every feature, 4 standard deviations
 *   apart whatever the number of features, so that about 2% of samples fall on the wrong side.
 *
 * @example
 * ```ts
 * const data = generate("spirals", 1000, 2, 42);
 * console.log(data.samples, data.features); // 1000 2
 * ```
 */
export function generate(
  kind: GeneratorKind,
  samples: number,
  features: number,
  seed: number,
): Dataset {
  if (!Number.isInteger(samples) || samples < 2) {
    throw new UsageError(`samples: expected an integer ≥ 2 (both classes), got ${samples}`);
  }
  if (!Number.isInteger(features) || features < 2) {
    throw new UsageError(`features: expected an integer ≥ 2, got ${features}`);
  }
  checkMemory(
    [{
      what: "the generated data",
      shape: `${samples} samples × ${features} features × 8 bytes`,
      bytes: samples * (features + 1) * 8 + samples * 4,
      reduce: "use fewer {samples} or {features}",
    }],
    hostMemoryLimit(),
    "this machine allows (three quarters of its memory)",
  );
  const rng = new Rng(seed, "data");
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) labels[i] = i % 2;
  rng.shuffle(labels);
  const x = new Float64Array(samples * features);
  const y = new Float64Array(labels);
  const blobShift = 2 / Math.sqrt(features);
  for (let i = 0; i < samples; i++) {
    const row = i * features;
    const label = labels[i];
    let first = 2;
    switch (kind) {
      case "xor": {
        // Drawing the signs from the class keeps the classes balanced; magnitudes in (0, 1] keep
        // x0·x1 off zero, where the label would be 0 whatever the class.
        const sign = rng.uniform() < 0.5 ? -1 : 1;
        x[row] = sign * (1 - rng.uniform());
        x[row + 1] = (label === 1 ? sign : -sign) * (1 - rng.uniform());
        break;
      }
      case "circles": {
        const angle = 2 * Math.PI * rng.uniform();
        const radius = label === 1 ? 0.5 : 1;
        x[row] = radius * Math.cos(angle) + 0.1 * rng.normal();
        x[row + 1] = radius * Math.sin(angle) + 0.1 * rng.normal();
        break;
      }
      case "spirals": {
        const t = rng.uniform();
        const angle = 2 * Math.PI * t + (label === 1 ? Math.PI : 0);
        const radius = 0.1 + 0.9 * t;
        x[row] = radius * Math.cos(angle) + 0.03 * rng.normal();
        x[row + 1] = radius * Math.sin(angle) + 0.03 * rng.normal();
        break;
      }
      case "blobs": {
        const centre = label === 1 ? blobShift : -blobShift;
        for (let k = 0; k < features; k++) x[row + k] = centre + rng.normal();
        first = features;
        break;
      }
    }
    for (let k = first; k < features; k++) x[row + k] = 2 * rng.uniform() - 1;
  }
  return {
    x,
    y,
    samples,
    features,
    featureNames: Array.from({ length: features }, (_, k) => `x${k}`),
  };
}
