import { kernelsLabel } from "../kernels/select.ts";
import type { EpochReport, TrainResult } from "../train/train.ts";
import type { ClassificationMetrics, UndefinableMetric } from "../model/metrics.ts";
import { stderrIsTerminal, writeStderr, writeStdout } from "../runtime/process.ts";
import { inFlagTerms } from "./option_flags.ts";

/** How training reports progress: `text` for people, `json` for programs (one object per line). */
export type LogFormat = "text" | "json";

/** Receives training events and prints them in one format. */
export interface EpochLog {
  note(message: string): void;
  epoch(report: EpochReport): void;
  /** `written`: where the model (`--out`) and the last checkpoint (`--checkpoint`) went. */
  done(result: TrainResult, epochs: number, written?: Written): void;
}

/** Files a run wrote, for the done line. */
export interface Written {
  readonly out?: string;
  readonly checkpoint?: string;
  readonly plot?: string;
}

/** The epochs a run took: how many, and the epoch it resumed after (0 for a fresh run). */
function epochsRun(result: TrainResult): { run: number; resumedFrom: number } {
  const first = result.history[0]?.epoch ?? 1;
  return { run: result.history.length, resumedFrom: first - 1 };
}

/** A duration for people: `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, "0")} min`;
}

/**
 * A loss for people: six decimals, or exponent form once it is large (a loss that grows without
 * becoming infinite would otherwise print twenty digits).
 *
 * @example
 * ```ts
 * formatLoss(0.5); // "0.500000"
 * formatLoss(1.437e19); // "1.437000e+19"
 * ```
 */
export function formatLoss(loss: number): string {
  return Math.abs(loss) >= 1e6 ? loss.toExponential(6) : loss.toFixed(6);
}

/** About this many epoch lines in text mode; the last epoch is always printed. */
const TEXT_LINES = 20;
const BAR_WIDTH = 30;

/**
 * A log printing to stdout. JSON mode prints nothing but JSON lines there (notes go to stderr);
 * text mode prints readable epoch lines and, on a terminal, a live progress bar on stderr.
 *
 * @example
 * ```ts
 * const log = createEpochLog("json", 100);
 * await train(data, { epochs: 100, onEpoch: (r) => log.epoch(r) });
 * ```
 */
export function createEpochLog(format: LogFormat, epochs: number): EpochLog {
  return format === "json" ? jsonLog() : textLog(epochs);
}

function jsonLog(): EpochLog {
  return {
    note(message) {
      writeStderr(`note: ${inFlagTerms(message)}\n`);
    },
    epoch(r) {
      const line: Record<string, number> = {
        epoch: r.epoch,
        loss: r.loss,
        accuracy: r.accuracy,
      };
      if (r.valLoss !== undefined) line.val_loss = r.valLoss;
      if (r.valAccuracy !== undefined) line.val_accuracy = r.valAccuracy;
      line.ms = r.ms;
      writeStdout(JSON.stringify({ event: "epoch", ...line }) + "\n");
    },
    done(result, epochs, written = {}) {
      const last = result.history.at(-1);
      const { run, resumedFrom } = epochsRun(result);
      writeStdout(
        JSON.stringify({
          event: "done",
          epochs,
          epochs_run: run,
          ...(resumedFrom > 0 ? { resumed_from: resumedFrom } : {}),
          ms: result.ms,
          loss: last?.loss ?? null,
          accuracy: last?.accuracy ?? null,
          ...(last?.valLoss !== undefined
            ? { val_loss: last.valLoss, val_accuracy: last.valAccuracy }
            : {}),
          ...(written.out !== undefined ? { out: written.out } : {}),
          ...(written.checkpoint !== undefined ? { checkpoint: written.checkpoint } : {}),
          ...(written.plot !== undefined ? { plot: written.plot } : {}),
          engine: result.engine,
          workers: result.workers,
          ...(result.transport
            ? {
              processes: result.transport.processes,
              bytes_per_step: result.transport.bytesPerStep,
              sync_ms: result.transport.syncMs,
            }
            : {}),
          backend: result.backend,
          kernel_variant: result.kernelVariant,
          samples_per_s: result.samplesPerSecond,
          ...jsonMetrics("", result.metrics.training),
          ...(result.metrics.validation ? jsonMetrics("val_", result.metrics.validation) : {}),
          ...(result.best
            ? {
              best_epoch: result.best.epoch,
              best_val_loss: result.best.valLoss,
              stopped_early: result.stoppedEarly,
            }
            : {}),
        }) + "\n",
      );
    },
  };
}

function textLog(epochs: number): EpochLog {
  const live = stderrIsTerminal();
  const every = Math.max(1, Math.round(epochs / TEXT_LINES));
  const clearBar = () => live && writeStderr("\r\x1b[2K");
  /** The first epoch's start (its end less its time) and number: a resumed run starts late. */
  let start: { ms: number; epoch: number } | undefined;
  return {
    note(message) {
      clearBar();
      writeStderr(`note: ${inFlagTerms(message)}\n`);
    },
    epoch(r) {
      if (r.epoch % every === 0 || r.epoch === epochs || r.epoch === 1) {
        clearBar();
        const val = r.valLoss !== undefined
          ? `  val loss ${formatLoss(r.valLoss)}  val acc ${r.valAccuracy!.toFixed(4)}`
          : "";
        const width = String(epochs).length;
        writeStdout(
          `epoch ${String(r.epoch).padStart(width)}/${epochs}  loss ${formatLoss(r.loss)}  ` +
            `acc ${r.accuracy.toFixed(4)}${val}  ${r.ms.toFixed(1)} ms\n`,
        );
      }
      if (live) {
        const now = performance.now();
        start ??= { ms: now - r.ms, epoch: r.epoch - 1 };
        writeStderr(`\r\x1b[2K${progressBar(r, epochs, now - start.ms, r.epoch - start.epoch)}`);
      }
    },
    done(result, epochs, written = {}) {
      clearBar();
      const last = result.history.at(-1);
      const { run, resumedFrom } = epochsRun(result);
      const which = resumedFrom > 0
        ? ` (${resumedFrom + 1}–${
          resumedFrom + run
        } of ${epochs}, resumed from epoch ${resumedFrom})`
        : "";
      const val = last?.valLoss !== undefined
        ? `, val loss ${formatLoss(last.valLoss)}, val accuracy ${last.valAccuracy!.toFixed(4)}`
        : "";
      const files = [
        written.out !== undefined ? `model in ${written.out}` : "",
        written.checkpoint !== undefined ? `checkpoint in ${written.checkpoint}` : "",
        written.plot !== undefined ? `curves in ${written.plot}` : "",
      ].filter((f) => f !== "");
      writeStdout(
        `done: ${run} epochs${which} in ${(result.ms / 1000).toFixed(2)} s, ` +
          `${Math.round(result.samplesPerSecond).toLocaleString("en-US")} samples/s, ` +
          `${computedBy(result)}, ${kernelsLabel(result.backend, result.kernelVariant)} backend; ` +
          `final loss ${last ? formatLoss(last.loss) : undefined}, accuracy ${
            last?.accuracy.toFixed(4)
          }${val}; ${textMetrics("training", result.metrics.training)}` +
          (result.metrics.validation
            ? `; ${textMetrics("validation", result.metrics.validation)}`
            : "") +
          (result.best
            ? `; ${result.stoppedEarly ? "stopped early, " : ""}best epoch ${result.best.epoch} ` +
              `(val loss ${formatLoss(result.best.valLoss)}), its parameters kept`
            : "") +
          (files.length ? `; ${files.join(", ")}` : "") +
          "\n",
      );
    },
  };
}

/**
 * The live line on a terminal: the bar, the epoch, elapsed time, the estimated time left, epochs
 * per second and the latest metrics. `elapsedMs` and `ran` count this run's epochs only.
 *
 * @example
 * ```ts
 * progressBar({ epoch: 50, loss: 0.1, accuracy: 0.9, ms: 2 }, 100, 1000, 50);
 * ```
 */
export function progressBar(
  r: EpochReport,
  epochs: number,
  elapsedMs: number,
  ran: number,
): string {
  const filled = Math.round((r.epoch / epochs) * BAR_WIDTH);
  const perSecond = elapsedMs > 0 ? (1000 * ran) / elapsedMs : 0;
  const left = perSecond > 0 ? formatDuration((1000 * (epochs - r.epoch)) / perSecond) : "?";
  const short = (v: number) => Math.abs(v) >= 1e6 ? v.toExponential(3) : v.toFixed(4);
  const val = r.valLoss !== undefined
    ? `  val loss ${short(r.valLoss)} acc ${r.valAccuracy!.toFixed(4)}`
    : "";
  const rate = perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(2);
  return `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${r.epoch}/${epochs}  ` +
    `${formatDuration(elapsedMs)} elapsed, ${left} left, ${rate} epochs/s  ` +
    `loss ${short(r.loss)} acc ${r.accuracy.toFixed(4)}${val}`;
}

/** Who computed the steps, for the done line. */
function computedBy(result: TrainResult): string {
  const t = result.transport;
  if (t) {
    return `${t.processes} worker process${t.processes === 1 ? "" : "es"} ` +
      `(${Math.round(t.bytesPerStep).toLocaleString("en-US")} bytes and ` +
      `${t.syncMs.toFixed(2)} ms of synchronization per step)`;
  }
  return `${result.workers} worker${result.workers === 1 ? "" : "s"}`;
}

/** JSON keys of the metrics: `precision`, `recall`, `f1`, `roc_auc`, each with `prefix`. */
const METRIC_KEYS: readonly [UndefinableMetric, string, string][] = [
  ["precision", "precision", "precision"],
  ["recall", "recall", "recall"],
  ["f1", "f1", "F1"],
  ["rocAuc", "roc_auc", "ROC AUC"],
];

/**
 * The metrics of the returned model on some rows: null where undefined, with the reason under
 * `<prefix>undefined_because`, never NaN.
 */
function jsonMetrics(prefix: string, m: ClassificationMetrics): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, name] of METRIC_KEYS) out[prefix + name] = m[key];
  const why: Record<string, string> = {};
  for (const [key, name] of METRIC_KEYS) {
    const reason = m.undefinedBecause[key];
    if (reason !== undefined) why[name] = reason;
  }
  if (Object.keys(why).length > 0) out[`${prefix}undefined_because`] = why;
  return out;
}

/** `training precision 0.9512, recall …, ROC AUC undefined (…)`. */
function textMetrics(rows: string, m: ClassificationMetrics): string {
  const terms = METRIC_KEYS.map(([key, , label]) => {
    const v = m[key];
    return v === null
      ? `${label} undefined (${m.undefinedBecause[key]})`
      : `${label} ${v.toFixed(4)}`;
  });
  return `${rows} ${terms.join(", ")}`;
}
