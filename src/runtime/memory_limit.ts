import { totalmem } from "node:os";
import { MemoryLimitError } from "../errors.ts";

/** A shared WebAssembly.Memory of 32-bit addresses holds at most 4 GiB. */
export const SHARED_MEMORY_LIMIT = 2 ** 32;

/** One part of what a run allocates, and how a user makes it smaller. */
export interface MemoryPart {
  /** What it is, e.g. "the partial gradients". */
  readonly what: string;
  /** How its size comes about, e.g. "64 chunks × 16785409 parameters × 4 bytes". */
  readonly shape: string;
  readonly bytes: number;
  /** What to reduce, options written `{name}` (see `MemoryLimitError`). */
  readonly reduce: string;
}

/**
 * The most memory a process may plan to use: three quarters of the machine's, leaving room for
 * the runtime and everything else. Unbounded when the runtime may not ask (Deno without
 * `--allow-sys`); the shared-memory limit still holds then.
 */
export function hostMemoryLimit(): number {
  try {
    return Math.floor(totalmem() * 0.75);
  } catch {
    return Infinity;
  }
}

/**
 * Throws a `MemoryLimitError` when `parts` together exceed `limit`, naming what needs it
 * (`subject`), the total, the limit (`limitName`) and the largest part with what to reduce.
 *
 * @example
 * ```ts
 * checkMemory([{ what: "the data", shape: "10 rows", bytes: 80, reduce: "use fewer rows" }], 64, "of memory");
 * ```
 */
export function checkMemory(
  parts: readonly MemoryPart[],
  limit: number,
  limitName: string,
  subject = "the run",
): void {
  const total = parts.reduce((sum, part) => sum + part.bytes, 0);
  if (total <= limit) return;
  const largest = parts.reduce((a, b) => b.bytes > a.bytes ? b : a);
  const share = parts.length > 1
    ? `; the largest part is ${largest.what} (${largest.shape}: ${formatBytes(largest.bytes)})`
    : ` for ${largest.what} (${largest.shape})`;
  throw new MemoryLimitError(
    `${subject} needs ${formatBytes(total)}${share}, more than the ${
      formatBytes(limit)
    } ${limitName}: ${largest.reduce}`,
  );
}

/**
 * Bytes in binary units for a message, e.g. `4.0 GiB`.
 *
 * @example
 * ```ts
 * formatBytes(2 ** 32); // "4.0 GiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
