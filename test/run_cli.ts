import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { scriptCommandLine } from "../src/runtime/runtimes.ts";

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
  name: "train" | "predict" | "compare" | "bench" | "sweep",
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return startCli(name, args, env, timeoutMs).done;
}

/** A command still running: its output so far, and what it will have printed when it ends. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** Standard output so far. */
  stdout(): string;
  readonly done: Promise<CliResult>;
}

/** Starts `scripts/<name>.ts` like {@link runCli}, for tests that act while it runs. */
export function startCli(
  name: "train" | "predict" | "compare" | "bench" | "sweep",
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): RunningCli {
  const [command, ...rest] = scriptCommandLine(`scripts/${name}.ts`, args);
  const started = performance.now();
  const child = spawn(command, rest, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => stdout += d);
  child.stderr.on("data", (d) => stderr += d);
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
  return { child, stdout: () => stdout, done };
}
