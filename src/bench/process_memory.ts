import { readFileSync } from "node:fs";

/**
 * This process's resident set size from Linux's /proc/self/status (or process `pid`'s), in bytes:
 * `VmHWM` is the peak since the process started, `VmRSS` the current size. Worker threads are part
 * of the process, so both include every worker. Null where /proc is absent (not Linux) or the
 * process is gone.
 *
 * @example
 * ```ts
 * const peak = residentBytes("VmHWM");
 * ```
 */
export function residentBytes(field: "VmHWM" | "VmRSS", pid?: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid ?? "self"}/status`, "utf8");
  } catch {
    return null;
  }
  const match = new RegExp(`^${field}:\\s*(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : null;
}
