import { DataError, UsageError, WorkerError } from "../errors.ts";
import { optionFlag } from "./option_flags.ts";
import { exit, writeStderr } from "../runtime/process.ts";

/**
 * Runs a command's body and turns its outcome into an exit status: 0 on success, 2 with one line
 * for a usage error, 1 with one line for bad data, and for anything else (a bug) the full stack,
 * status 70.
 * (A worker's failure is one line, status 1: its message names the worker and the cause.) The process exits even if something still holds the event loop.
 */
export async function runCommand(name: string, body: () => Promise<number | void>): Promise<never> {
  try {
    const code = await body();
    exit(code ?? 0);
  } catch (e) {
    if (e instanceof UsageError) {
      writeStderr(`${name}: ${e.render(optionFlag)}\n`);
      exit(2);
    }
    if (e instanceof DataError) {
      writeStderr(`${name}: ${e.render(optionFlag)}\n`);
      exit(1);
    }
    if (e instanceof WorkerError) {
      writeStderr(`${name}: ${e.message}\n`);
      exit(1);
    }
    writeStderr(`${name}: internal error: ${e instanceof Error ? e.stack ?? e.message : e}\n`);
    exit(70);
  }
}
