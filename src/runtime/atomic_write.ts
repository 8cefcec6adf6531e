import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";

/**
 * Writes `data` to `path` atomically: to `PATH.<pid>.tmp` in the same directory, flushed to disk,
 * renamed over `path`, and the directory flushed, so that a crash at any moment (`kill -9`, power
 * loss) leaves either the old file or the new one under `path`, never a mix. Temporary files of
 * `path` left by processes that no longer exist (killed mid-write) are removed first; the pid in
 * the name tells whose a temporary file is.
 *
 * A failure throws an `Error` whose one-line message names `path` and the cause, never the
 * temporary file, which is removed.
 *
 * @example
 * ```ts
 * writeFileAtomic("model.json", JSON.stringify(model));
 * ```
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  removeStaleTemporaries(path);
  const temporary = temporaryPath(path, process.pid);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(temporary, "w");
    created = true;
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done);
    // Without the flush, a power loss after the rename could leave the new name on empty data.
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
    created = false;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    if (created) rmSync(temporary, { force: true });
    throw new Error(`cannot write ${path}: ${describeFsError(e)}`);
  }
  syncDirectory(dirname(path));
}

/** The temporary file that process `pid` writes `path` through. */
export function temporaryPath(path: string, pid: number): string {
  return `${path}.${pid}.tmp`;
}

/**
 * Removes `PATH.<pid>.tmp` files beside `path` whose process is gone. A live process's file, ours
 * included, is left alone: it may be writing. A pid reused by an unrelated process keeps its file
 * until a later run.
 */
function removeStaleTemporaries(path: string): void {
  const name = basename(path);
  const directory = dirname(path);
  let entries: string[];
  try {
    entries = readdirSync(directory);
  } catch {
    return; // the write itself will report an unreadable or missing directory
  }
  for (const entry of entries) {
    if (!entry.startsWith(`${name}.`) || !entry.endsWith(".tmp")) continue;
    const pid = entry.slice(name.length + 1, -4);
    if (!/^[1-9]\d{0,9}$/.test(pid) || Number(pid) === process.pid || isAlive(Number(pid))) {
      continue;
    }
    rmSync(join(directory, entry), { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as { code?: string }).code !== "ESRCH";
  }
}

/** The rename is durable only once the directory entry is on disk too. */
function syncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(directory, "r");
    fsyncSync(fd);
  } catch {
    // Some systems cannot open or flush a directory; the rename has happened all the same.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const CAUSES: Record<string, string> = {
  ENOENT: "no such directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EXDEV: "cannot rename across devices",
};

/**
 * A file-system error in a few words, without the temporary path that the runtime's message
 * would name.
 */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code && CAUSES[code]) return CAUSES[code];
  const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
  return code ? `${code} (${message.replace(/,? (open|rename) '.*'$/, "")})` : message;
}
