/**
 * Finding and starting the two runtimes this project runs on, for programs that run a script on
 * both (the benchmark measures Deno and Bun side by side, each in child processes).
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { currentRuntime, environmentVariable, type RuntimeKind } from "./process.ts";

export { currentRuntime, type RuntimeKind };

export const RUNTIME_KINDS: readonly RuntimeKind[] = ["deno", "bun"];

/**
 * The executable of `kind`: this process's own when it is that runtime, else the project's
 * `node_modules/.bin` (where `npm ci` puts both), else the first on `PATH`; null when none exists.
 *
 * @example
 * ```ts
 * const bun = findRuntime("bun", "/work/main"); // "/work/main/node_modules/.bin/bun" or null
 * ```
 */
export function findRuntime(kind: RuntimeKind, projectRoot: string): string | null {
  if (kind === currentRuntime()) return process.execPath;
  const dirs = [
    join(projectRoot, "node_modules", ".bin"),
    ...(environmentVariable("PATH") ?? "").split(delimiter),
  ];
  for (const dir of dirs.filter((d) => d !== "")) {
    const candidate = join(dir, kind);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; look further
    }
  }
  return null;
}

/**
 * The command line that runs `script` with `args` on the runtime `binary` of `kind`, with every
 * permission on Deno (Bun has no permission system).
 *
 * @example
 * ```ts
 * runtimeCommandLine("deno", "/usr/bin/deno", "src/cli/bench_child.ts", ["{}"]);
 * // ["/usr/bin/deno", "run", "--allow-all", "src/cli/bench_child.ts", "{}"]
 * ```
 */
export function runtimeCommandLine(
  kind: RuntimeKind,
  binary: string,
  script: string,
  args: readonly string[],
): string[] {
  return kind === "deno"
    ? [binary, "run", "--allow-all", script, ...args]
    : [binary, script, ...args];
}

/**
 * The command line that runs `script` with `args` on the runtime running this process.
 *
 * @example
 * ```ts
 * spawn(...scriptCommandLine("scripts/train.ts", ["--epochs", "5"]));
 * ```
 */
export function scriptCommandLine(script: string, args: readonly string[]): string[] {
  return runtimeCommandLine(currentRuntime(), process.execPath, script, args);
}
