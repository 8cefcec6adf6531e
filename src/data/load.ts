import { statSync } from "node:fs";
import { didYouMean } from "../did_you_mean.ts";
import { UsageError } from "../errors.ts";
import { readCsv } from "./csv.ts";
import type { Dataset } from "./dataset.ts";
import { generate, GENERATOR_KINDS, type GeneratorKind } from "./generators.ts";

/** Where rows come from: a built-in generator, or the path of a CSV file; see `resolveDataSource`. */
export interface DataSource {
  readonly source: string;
  /** Generators only: rows (default 8192), features (default 8) and seed (default 1). */
  readonly samples?: number;
  readonly features?: number;
  readonly seed?: number;
  /** CSV only: the label column by name or 0-based index; default the last column. */
  readonly label?: string;
  /** CSV only: the label value that is class 1; default the larger of the two. */
  readonly positiveLabel?: string;
}

/** A generated data set's shape and seed when a `DataSource` leaves them out (as `train`'s CLI). */
export const GENERATOR_DEFAULTS = { samples: 8192, features: 8, seed: 1 } as const;

/** What a source string names: a generator, or a CSV file. */
export type ResolvedSource =
  | { readonly kind: "generator"; readonly generator: GeneratorKind }
  /** `shadows`: the generator of the same name, which the file takes the place of. */
  | { readonly kind: "file"; readonly path: string; readonly shadows?: GeneratorKind };

/** The explicit form of a generator, which no file can shadow: `gen:xor`. */
export const GENERATOR_PREFIX = "gen:";

/**
 * What a source string names. `gen:NAME` is always the generator NAME; otherwise an existing path
 * is always the file, even when it is also a generator's name (then `shadows` names the
 * generator); a generator's name that is no file is the generator; anything else is a file path.
 *
 * @example
 * ```ts
 * resolveDataSource("gen:circles"); // { kind: "generator", generator: "circles" }
 * resolveDataSource("data/breast_cancer.csv"); // { kind: "file", path: "data/breast_cancer.csv" }
 * ```
 */
export function resolveDataSource(source: string): ResolvedSource {
  if (source.startsWith(GENERATOR_PREFIX)) {
    const name = source.slice(GENERATOR_PREFIX.length);
    if (!isGenerator(name)) {
      const meant = didYouMean(name, GENERATOR_KINDS);
      throw new UsageError(
        `no generator "${name}"${meant ? ` (did you mean ${GENERATOR_PREFIX}${meant}?)` : ""}; ` +
          `the generators are ${GENERATOR_KINDS.join(", ")}`,
      );
    }
    return { kind: "generator", generator: name };
  }
  const exists = statSync(source, { throwIfNoEntry: false }) !== undefined;
  if (isGenerator(source)) {
    return exists
      ? { kind: "file", path: source, shadows: source }
      : { kind: "generator", generator: source };
  }
  if (!exists) {
    // A misspelt generator (`spiral`) would otherwise read as a missing file.
    const meant = /^[\w-]+$/.test(source) ? didYouMean(source, GENERATOR_KINDS) : undefined;
    if (meant) {
      throw new UsageError(
        `no such file or generator: ${source} (did you mean ${GENERATOR_PREFIX}${meant}?)`,
      );
    }
  }
  return { kind: "file", path: source };
}

function isGenerator(name: string): name is GeneratorKind {
  return (GENERATOR_KINDS as readonly string[]).includes(name);
}

/**
 * Loads a data set from a generator (`xor`, `circles`, `spirals`, `blobs`, or `gen:NAME`) or a
 * CSV path, as `resolveDataSource` tells them apart.
 *
 * @example
 * ```ts
 * const data = loadDataset({ source: "gen:xor", samples: 1000, features: 4, seed: 1 });
 * const csv = loadDataset({ source: "data/breast_cancer.csv" });
 * ```
 */
export function loadDataset(from: DataSource): Dataset {
  const resolved = resolveDataSource(from.source);
  if (resolved.kind === "generator") {
    const d = GENERATOR_DEFAULTS;
    return generate(
      resolved.generator,
      from.samples ?? d.samples,
      from.features ?? d.features,
      from.seed ?? d.seed,
    );
  }
  return readCsv(resolved.path, {
    ...(from.label !== undefined ? { label: from.label } : {}),
    ...(from.positiveLabel !== undefined ? { positiveLabel: from.positiveLabel } : {}),
  });
}
