import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../errors.ts";

/** A file a command will write, and how to recognise a file it may replace. */
export interface Output {
  readonly flag: string;
  readonly path: string;
  /** What the command writes there, e.g. "model file". */
  readonly kind: string;
  /** Whether the first bytes of an existing file show it is one this program wrote. */
  readonly ours: (head: Uint8Array) => boolean;
}

/** A file a command reads. */
export interface Input {
  readonly flag: string;
  readonly path: string;
}

/** Bytes read from an existing file to tell whether it is ours. */
const HEAD_BYTES = 64;

/**
 * Checks, before any work, that every output can be written and replaces nothing it should not:
 * its directory exists and is writable; it is not a directory, not an input of the same run
 * (except a pair in `allowed`, such as `--checkpoint` and `--resume` naming one file) and not
 * another output; and an existing file there is one this program wrote of that kind, unless
 * `force`. Throws a one-line `UsageError` naming the flag and what would have been overwritten.
 *
 * @example
 * ```ts
 * checkOutputs([{ flag: "--out", path: "model.json", kind: "model file", ours: isModelHead }],
 *   [{ flag: "--data", path: "data.csv" }], false);
 * ```
 */
export function checkOutputs(
  outputs: readonly Output[],
  inputs: readonly Input[],
  force: boolean,
  allowed: readonly (readonly [output: string, input: string])[] = [],
): void {
  outputs.forEach((output, i) => {
    const { flag, path } = output;
    const directory = dirname(path);
    if (!statSync(directory, { throwIfNoEntry: false })?.isDirectory()) {
      throw new UsageError(`${flag}: no such directory: ${directory}`);
    }
    try {
      accessSync(directory, constants.W_OK);
    } catch {
      throw new UsageError(`${flag}: cannot write in ${directory}: permission denied`);
    }
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isDirectory()) throw new UsageError(`${flag}: ${path} is a directory`);
    for (const input of inputs) {
      if (!samePath(path, input.path)) continue;
      if (allowed.some(([o, x]) => o === flag && x === input.flag)) continue;
      throw new UsageError(
        `${flag}: ${path} is also ${input.flag}, an input of this run; write to another file`,
      );
    }
    for (const other of outputs.slice(0, i)) {
      if (samePath(path, other.path)) {
        throw new UsageError(`${flag}: ${path} is also ${other.flag}; give each its own file`);
      }
    }
    if (stat && !force && !output.ours(readHead(path))) {
      throw new UsageError(
        `${flag}: ${path} exists and is not a ${output.kind} of this trainer; not replacing it ` +
          `(give --force to replace it)`,
      );
    }
  });
}

/** The same file: by device and inode when both exist (links included), else by full path. */
function samePath(a: string, b: string): boolean {
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  if (sa && sb) return sa.dev === sb.dev && sa.ino === sb.ino;
  return resolve(a) === resolve(b);
}

function readHead(path: string): Uint8Array {
  const head = new Uint8Array(HEAD_BYTES);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    return head.subarray(0, readSync(fd, head, 0, HEAD_BYTES, 0));
  } catch {
    // Unreadable: nothing shows it is ours.
    return head.subarray(0, 0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
