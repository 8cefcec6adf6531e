import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { WorkerError } from "../errors.ts";
import { runtimeCommandLine, type RuntimeKind } from "../runtime/runtimes.ts";
import type { Job, Measurement } from "./jobs.ts";
import { benchEnvironment } from "./numpy_reference.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = fileURLToPath(new URL("../cli/bench_child.ts", import.meta.url));

/** A runtime that children run on: which one, and its executable. */
export interface ChildRuntime {
  readonly kind: RuntimeKind;
  readonly binary: string;
}

/**
 * Measures `job` in a fresh process of `runtime`, from the project's root (so that relative data
 * paths resolve as they do for the commands). Rejects with a one-line `WorkerError` carrying the
 * end of the child's stderr when it fails.
 *
 * @example
 * ```ts
 * const m = await runChild({ kind: "bun", binary: "node_modules/.bin/bun" }, job);
 * ```
 */
export function runChild(runtime: ChildRuntime, job: Job): Promise<Measurement> {
  const [command, ...args] = runtimeCommandLine(
    runtime.kind,
    runtime.binary,
    ENTRY,
    [JSON.stringify(job)],
  );
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: benchEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      if (code === 0 && line.startsWith("{")) {
        resolve(JSON.parse(line) as Measurement);
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      const detail = stderr.trim().split("\n").slice(-5).join(" | ");
      reject(new WorkerError(`the ${runtime.kind} child ${how}${detail ? `: ${detail}` : ""}`));
    });
  });
}
