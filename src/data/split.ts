import { option, UsageError } from "../errors.ts";
import { Rng } from "../rng.ts";
import type { Dataset } from "./dataset.ts";

/**
 * Holds out round(fraction · samples) rows, chosen by a shuffle seeded with `seed`, as a
 * validation set. Both parts keep the rows in their original order. A fraction of 0 holds out
 * nothing and returns `data` itself as the training set.
 *
 * @example
 * ```ts
 * const { train, validation } = splitValidation(data, 0.2, 42);
 * ```
 */
export function splitValidation(
  data: Dataset,
  fraction: number,
  seed: number,
): { train: Dataset; validation: Dataset | null } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new UsageError(
      `\`${option("valSplit")}\` must be at least 0 and less than 1, got ${fraction}`,
    );
  }
  if (fraction === 0) return { train: data, validation: null };
  const { train, validation } = holdOutRows(data.samples, fraction, seed);
  return { train: selectRows(data, train), validation: selectRows(data, validation) };
}

/**
 * The row indices, each part in ascending order, that `splitValidation` puts in its training and
 * validation sets for a fraction above 0.
 *
 * @example
 * ```ts
 * const { train, validation } = holdOutRows(569, 0.2, 1); // 455 and 114 row indices
 * ```
 */
export function holdOutRows(
  samples: number,
  fraction: number,
  seed: number,
): { train: Int32Array; validation: Int32Array } {
  const m = samples;
  const held = Math.round(fraction * m);
  if (!(fraction > 0 && fraction < 1)) {
    throw new UsageError(
      `\`${option("valSplit")}\` must be more than 0 and less than 1, got ${fraction}`,
    );
  }
  if (held === 0) {
    throw new UsageError(
      `\`${
        option("valSplit")
      }\` ${fraction} of ${m} samples holds out none; use 0 for no validation set`,
    );
  }
  if (held === m) {
    throw new UsageError(
      `\`${option("valSplit")}\` ${fraction} of ${m} samples leaves none for training`,
    );
  }
  const order = new Int32Array(m);
  for (let i = 0; i < m; i++) order[i] = i;
  new Rng(seed, "split").shuffle(order);
  const isHeld = new Uint8Array(m);
  for (let i = 0; i < held; i++) isHeld[order[i]] = 1;
  const train = new Int32Array(m - held);
  const validation = new Int32Array(held);
  for (let i = 0, t = 0, v = 0; i < m; i++) {
    if (isHeld[i]) validation[v++] = i;
    else train[t++] = i;
  }
  return { train, validation };
}

/**
 * A new data set of the given rows of `data`, in the order given.
 *
 * @example
 * ```ts
 * const firstTwo = selectRows(data, [0, 1]);
 * ```
 */
export function selectRows(data: Dataset, indices: ArrayLike<number>): Dataset {
  const n = data.features;
  const x = new Float64Array(indices.length * n);
  const y = new Float64Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    if (!(Number.isInteger(i) && i >= 0 && i < data.samples)) {
      throw new RangeError(`row ${i} is not in a data set of ${data.samples} samples`);
    }
    x.set(data.x.subarray(i * n, (i + 1) * n), r * n);
    y[r] = data.y[i];
  }
  return {
    x,
    y,
    samples: indices.length,
    features: n,
    featureNames: data.featureNames,
    ...(data.label ? { label: data.label } : {}),
  };
}
