import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  currentRuntime,
  findRuntime,
  runtimeCommandLine,
  type RuntimeKind,
} from "../src/runtime/runtimes.ts";

/** What a finished command printed and how it exited. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs `scripts/<name>.ts` with `args` on the runtime running the tests, as a user would. */
export function runCli(
  name: "train" | "predict" | "evaluate" | "compare" | "bench" | "worker" | "cluster" | "sweep",
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return startCli(name, args, env, timeoutMs).done;
}

/**
 * Runs `scripts/<name>.ts` with `args` on `runtime`, this one or the other (from the project's
 * node_modules/.bin), so that a test can compare what the two compute.
 */
export function runCliOn(
  runtime: RuntimeKind,
  name: "train" | "predict" | "compare" | "bench" | "worker",
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return startCli(name, args, env, timeoutMs, runtime).done;
}

/** The runtime that is not running the tests. */
export function otherRuntime(): RuntimeKind {
  return currentRuntime() === "deno" ? "bun" : "deno";
}

/** A command still running: its output so far, and what it will have printed when it ends. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** Standard output so far. */
  stdout(): string;
  /** Standard error so far. */
  stderr(): string;
  readonly done: Promise<CliResult>;
}

/** Starts `scripts/<name>.ts` like {@link runCli}, for tests that act while it runs. */
export function startCli(
  name: "train" | "predict" | "evaluate" | "compare" | "bench" | "worker" | "cluster" | "sweep",
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
  runtime: RuntimeKind = currentRuntime(),
): RunningCli {
  const [command, ...rest] = commandLine(runtime, `scripts/${name}.ts`, args);
  const child = spawn(command, rest, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return watchCli(child, timeoutMs);
}

/**
 * Collects a just-spawned command's output (its stdout and stderr must be pipes) and what it will
 * have printed when it ends; kills it after `timeoutMs`.
 */
export function watchCli(child: ChildProcess, timeoutMs: number): RunningCli {
  const started = performance.now();
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  child.stderr!.on("data", (d) => stderr += d);
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** The command line that runs `script` on `runtime`, which must be installed. */
export function commandLine(
  runtime: RuntimeKind,
  script: string,
  args: readonly string[],
): string[] {
  const binary = findRuntime(runtime, ROOT);
  if (binary === null) throw new Error(`${runtime} is not installed (npm ci installs it)`);
  return runtimeCommandLine(runtime, binary, script, args);
}
