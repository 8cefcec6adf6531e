import { stderrIsTerminal, writeStderr, writeStdout } from "../runtime/process.ts";
import type { SweepConfig } from "../sweep/grid.ts";
import type { ConfigSummary, SweepResult, SweepRun } from "../sweep/sweep.ts";
import type { LogFormat } from "./epoch_log.ts";
import { inFlagTerms } from "./option_flags.ts";

/** A column of the sweep's output: a list flag and its value in a configuration. */
export interface SweepColumn {
  readonly flag: string;
  readonly value: (config: SweepConfig) => number | string | undefined;
}

/** Receives a sweep's events and prints them in one format. */
export interface SweepLog {
  note(message: string): void;
  run(run: SweepRun, config: SweepConfig): void;
  config(summary: ConfigSummary): void;
  /** The sweep is over (complete or stopped): prints the ranked configurations. */
  finish(result: SweepResult): void;
  /** Stops the live display; safe to call more than once, and after `finish`. */
  close(): void;
}

const BAR_WIDTH = 30;
const TICK_MS = 1000;

/**
 * A log for a sweep of `runs` runs. Text mode prints the ranked table on stdout at the end and,
 * on a terminal, a live progress bar with the time left on stderr, elsewhere one line per
 * finished configuration; JSON mode prints one object per run, per configuration and at the end.
 *
 * @example
 * ```ts
 * const log = createSweepLog("text", [{ flag: "lr", value: (c) => c.learningRate }], 10);
 * ```
 */
export function createSweepLog(
  format: LogFormat,
  columns: readonly SweepColumn[],
  runs: number,
): SweepLog {
  return format === "json" ? jsonLog(columns) : textLog(columns, runs);
}

function settings(columns: readonly SweepColumn[], config: SweepConfig): Record<string, unknown> {
  return Object.fromEntries(
    columns.map((c) => [c.flag.replaceAll("-", "_"), c.value(config) ?? null]),
  );
}

/** JSON has no NaN: a diverged run's metrics are null. */
function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function jsonLog(columns: readonly SweepColumn[]): SweepLog {
  const line = (object: Record<string, unknown>) => writeStdout(JSON.stringify(object) + "\n");
  const summary = (s: ConfigSummary) => ({
    config: s.index,
    ...settings(columns, s.config),
    runs: s.runs,
    val_loss_mean: finite(s.valLoss),
    val_loss_std: finite(s.valLossSpread),
    val_accuracy_mean: finite(s.valAccuracy),
    val_auc_mean: finite(s.valAuc),
    ms: finite(s.ms),
    ...(s.diverged !== undefined ? { diverged: inFlagTerms(s.diverged) } : {}),
  });
  return {
    note(message) {
      writeStderr(`note: ${inFlagTerms(message)}\n`);
    },
    run(r, config) {
      line({
        event: "run",
        config: r.config,
        fold: r.split,
        ...settings(columns, config),
        val_loss: finite(r.valLoss),
        val_accuracy: finite(r.valAccuracy),
        val_auc: finite(r.valAuc),
        train_loss: finite(r.trainLoss),
        ms: finite(r.ms),
        params_hash: r.paramsHash,
        ...(r.diverged !== undefined ? { diverged: inFlagTerms(r.diverged) } : {}),
      });
    },
    config(s) {
      line({ event: "config", ...summary(s) });
    },
    finish(result) {
      line({
        event: "done",
        complete: result.complete,
        runs: result.runs.length,
        configs: result.configs.length,
        ms: result.ms,
        best: result.best ? summary(result.best) : null,
      });
    },
    close() {},
  };
}

function textLog(columns: readonly SweepColumn[], runs: number): SweepLog {
  const live = stderrIsTerminal();
  const started = performance.now();
  let done = 0;
  let configsDone = 0;
  let best = Infinity;
  let timer: ReturnType<typeof setInterval> | undefined;
  const draw = () => {
    const elapsed = performance.now() - started;
    const filled = Math.round((done / runs) * BAR_WIDTH);
    const left = done === 0 ? "…" : clock((elapsed / done) * (runs - done));
    const bestText = Number.isFinite(best) ? `  best val loss ${best.toFixed(4)}` : "";
    writeStderr(
      `\r\x1b[2K[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${done}/${runs} runs  ` +
        `${clock(elapsed)}, ETA ${left}${bestText}`,
    );
  };
  const clearBar = () => live && writeStderr("\r\x1b[2K");
  if (live) {
    draw();
    timer = setInterval(draw, TICK_MS);
  }
  const close = () => {
    if (timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
    clearBar();
  };
  return {
    note(message) {
      clearBar();
      writeStderr(`note: ${inFlagTerms(message)}\n`);
      if (live && timer !== undefined) draw();
    },
    run() {
      done++;
      if (live) draw();
    },
    config(s) {
      configsDone++;
      if (Number.isFinite(s.valLoss)) best = Math.min(best, s.valLoss);
      if (live) return;
      writeStderr(
        `[${done}/${runs} runs ${clock(performance.now() - started)}] ` +
          `${describeConfig(columns, s.config)}: ${describeMetrics(s)}\n`,
      );
    },
    finish(result) {
      close();
      writeStdout(rankedTable(columns, result));
      const finished = result.runs.length;
      const bestText = result.best ? `; best: ${describeConfig(columns, result.best.config)}` : "";
      writeStdout(
        `${result.complete ? "done" : "stopped"}: ${finished} runs, ${configsDone} of ` +
          `${result.configs.length} configurations complete, in ` +
          `${(result.ms / 1000).toFixed(2)} s${bestText}\n`,
      );
    },
    close,
  };
}

/** The configuration as the flags that give it, e.g. `--lr 0.5 --hidden 16`. */
function describeConfig(columns: readonly SweepColumn[], config: SweepConfig): string {
  return columns.map((c) => c.value(config) === undefined ? "" : `--${c.flag} ${c.value(config)}`)
    .filter((t) => t !== "").join(" ");
}

function describeMetrics(s: ConfigSummary): string {
  if (s.diverged !== undefined) return `diverged (${inFlagTerms(s.diverged)})`;
  return `val loss ${s.valLoss.toFixed(4)} ± ${s.valLossSpread.toFixed(4)}, ` +
    `acc ${s.valAccuracy.toFixed(4)}, AUC ${s.valAuc.toFixed(4)}`;
}

/**
 * The configurations best first, one line each.
 *
 * @example
 * ```ts
 * writeStdout(rankedTable(columns, result));
 * ```
 */
export function rankedTable(columns: readonly SweepColumn[], result: SweepResult): string {
  const header = [
    "rank",
    ...columns.map((c) => c.flag),
    "val loss ± sd",
    "val acc",
    "val AUC",
    "runs",
  ];
  const rows = result.ranked.map((s, i) => [
    String(i + 1),
    ...columns.map((c) => String(c.value(s.config) ?? "all")),
    s.diverged !== undefined
      ? "diverged"
      : `${s.valLoss.toFixed(4)} ± ${s.valLossSpread.toFixed(4)}`,
    fixed(s.valAccuracy),
    fixed(s.valAuc),
    `${s.runs}/${s.splits}`,
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const format = (cells: string[]) =>
    cells.map((cell, k) => k === 0 ? cell.padStart(widths[k]) : cell.padEnd(widths[k]))
      .join("  ").trimEnd() + "\n";
  return format(header) + rows.map(format).join("");
}

function fixed(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : "-";
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
