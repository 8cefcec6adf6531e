/**
 * The few things that differ between Deno and Bun, in one place. Everything else in the project
 * uses web APIs or `node:` modules, which both runtimes provide.
 */
import process from "node:process";

declare const Deno: { version: { deno: string; v8: string } } | undefined;
declare const Bun: { version: string; revision: string } | undefined;

/** The runtimes this project supports. */
export type RuntimeKind = "deno" | "bun";

/**
 * The runtime running this process: the one place that tells them apart (the project runs on
 * Deno or Bun, nothing else).
 */
export function currentRuntime(): RuntimeKind {
  return typeof Deno !== "undefined" ? "deno" : "bun";
}

/** The runtime this process runs on, with its version, e.g. `deno 2.9.6` or `bun 1.4.5`. */
export function runtimeName(): string {
  if (typeof Deno !== "undefined") return `deno ${Deno.version.deno}`;
  if (typeof Bun !== "undefined") return `bun ${Bun.version}`;
  return `node ${process.versions.node}`;
}

/** The command-line arguments after the script's path. */
export function scriptArgs(): string[] {
  return process.argv.slice(2);
}

/** Logical CPUs available to this process. */
export function logicalCpus(): number {
  return navigator.hardwareConcurrency || 1;
}

/** Whether standard error is an interactive terminal (for the live progress display). */
export function stderrIsTerminal(): boolean {
  return process.stderr.isTTY === true;
}

/** Writes to standard output / standard error without a newline being added. */
export function writeStdout(text: string): void {
  process.stdout.write(text);
}

export function writeStderr(text: string): void {
  process.stderr.write(text);
}

/** Ends the process once buffered output is flushed. */
export function exit(code: number): never {
  process.exit(code);
}

/**
 * Ends the calling worker thread at once, without an error: Deno's workers have the web
 * `self.close()`, Bun's do not, and there `process.exit` ends only the worker.
 */
export function exitWorkerThread(): void {
  const close = (globalThis as { close?: () => void }).close;
  if (typeof close === "function") close();
  else process.exit(0);
}

/** Calls `handler` on SIGINT and SIGTERM with the signal's conventional exit status (130, 143). */
export function onTerminationSignal(handler: (exitCode: number) => void): void {
  process.on("SIGINT", () => handler(130));
  process.on("SIGTERM", () => handler(143));
}

/** Reads an environment variable; undefined when unset or when the runtime denies access. */
export function environmentVariable(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/**
 * A copy of this process's environment, for a child's, to change without changing ours; empty
 * when the runtime denies access.
 *
 * @example
 * ```ts
 * spawn("bun", ["worker.ts"], { env: { ...environmentCopy(), SHARDNET_EXIT_WITH_STDIN: "1" } });
 * ```
 */
export function environmentCopy(): Record<string, string | undefined> {
  try {
    return { ...process.env };
  } catch {
    return {};
  }
}
