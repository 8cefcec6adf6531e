import { stderrIsTerminal, writeStderr } from "../runtime/process.ts";

/** Tells a person on stderr how far a long run has got. */
export interface Progress {
  /** A measurement starts. */
  begin(label: string): void;
  /** It ended; `summary` is its headline figure. */
  end(summary: string): void;
  /** The run is over: clears the live line. */
  finish(): void;
}

/** How often the live line's clock is redrawn. */
const TICK_MS = 1000;

/**
 * One line, redrawn in place with the step count and elapsed time, on a terminal; elsewhere
 * (a log file, CI) one plain line per finished measurement.
 *
 * @example
 * ```ts
 * const progress = createProgress(items.length);
 * progress.begin("L · deno · js · workers 2");
 * progress.end("median 912 ms");
 * progress.finish();
 * ```
 */
export function createProgress(total: number): Progress {
  const live = stderrIsTerminal();
  const started = performance.now();
  const width = String(total).length;
  let done = 0;
  let current = "";
  let timer: ReturnType<typeof setInterval> | undefined;
  const head = () =>
    `[${String(done + 1).padStart(width)}/${total} ${clock(performance.now() - started)}]`;
  const draw = () => writeStderr(`\r\x1b[2K${head()} ${current} …`);
  return {
    begin(label) {
      current = label;
      if (!live) return;
      draw();
      clearInterval(timer);
      timer = setInterval(draw, TICK_MS);
    },
    end(summary) {
      if (!live) writeStderr(`${head()} ${current}: ${summary}\n`);
      done++;
    },
    finish() {
      clearInterval(timer);
      if (live) writeStderr("\r\x1b[2K");
      writeStderr(
        `bench: ${done} of ${total} measurements in ${clock(performance.now() - started)}\n`,
      );
    },
  };
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
