import { readCsv } from "./csv.ts";
import type { Dataset } from "./dataset.ts";
import { generate, GENERATOR_KINDS, type GeneratorKind } from "./generators.ts";

/** Where rows come from: a built-in generator's name, or the path of a CSV file. */
export interface DataSource {
  readonly source: string;
  /** Generators only. */
  readonly samples: number;
  readonly features: number;
  readonly seed: number;
  /** CSV only: the label column by name or 0-based index; default the last column. */
  readonly label?: string;
}

/**
 * Loads a data set from a generator name (`xor`, `circles`, `spirals`, `blobs`) or a CSV path.
 *
 * @example
 * ```ts
 * const data = loadDataset({ source: "xor", samples: 1000, features: 4, seed: 1 });
 * ```
 */
export function loadDataset(from: DataSource): Dataset {
  if ((GENERATOR_KINDS as readonly string[]).includes(from.source)) {
    return generate(from.source as GeneratorKind, from.samples, from.features, from.seed);
  }
  return readCsv(from.source, from.label === undefined ? {} : { label: from.label });
}
