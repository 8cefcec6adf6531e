import os from "node:os";
import { logicalCpus } from "../runtime/process.ts";

/** The machine a report's figures come from. */
export interface Machine {
  readonly cpu: string;
  readonly logicalCores: number;
  readonly memoryBytes: number;
  readonly os: string;
  /** The 1-, 5- and 15-minute load averages when the run started: other work skews timings. */
  readonly loadAverage: readonly number[];
}

/**
 * Describes this machine.
 *
 * @example
 * ```ts
 * describeMachine().cpu; // "AMD EPYC"
 * ```
 */
export function describeMachine(): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() || "unknown",
    logicalCores: logicalCpus(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
