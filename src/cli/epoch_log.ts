import { kernelsLabel } from "../kernels/select.ts";
import type { EpochReport, TrainResult } from "../train/train.ts";
import { stderrIsTerminal, writeStderr, writeStdout } from "../runtime/process.ts";

/** How training reports progress: `text` for people, `json` for programs (one object per line). */
export type LogFormat = "text" | "json";

/** Receives training events and prints them in one format. */
export interface EpochLog {
  note(message: string): void;
  epoch(report: EpochReport): void;
  done(result: TrainResult, epochs: number): void;
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
      writeStderr(`note: ${message}\n`);
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
    done(result, epochs) {
      const last = result.history.at(-1);
      writeStdout(
        JSON.stringify({
          event: "done",
          epochs,
          ms: result.ms,
          loss: last?.loss ?? null,
          accuracy: last?.accuracy ?? null,
          workers: result.workers,
          backend: result.backend,
          kernel_variant: result.kernelVariant,
          samples_per_s: result.samplesPerSecond,
        }) + "\n",
      );
    },
  };
}

function textLog(epochs: number): EpochLog {
  const live = stderrIsTerminal();
  const every = Math.max(1, Math.round(epochs / TEXT_LINES));
  const clearBar = () => live && writeStderr("\r\x1b[2K");
  return {
    note(message) {
      clearBar();
      writeStderr(`note: ${message}\n`);
    },
    epoch(r) {
      if (r.epoch % every === 0 || r.epoch === epochs || r.epoch === 1) {
        clearBar();
        const val = r.valLoss !== undefined
          ? `  val loss ${r.valLoss.toFixed(6)}  val acc ${r.valAccuracy!.toFixed(4)}`
          : "";
        const width = String(epochs).length;
        writeStdout(
          `epoch ${String(r.epoch).padStart(width)}/${epochs}  loss ${r.loss.toFixed(6)}  ` +
            `acc ${r.accuracy.toFixed(4)}${val}  ${r.ms.toFixed(1)} ms\n`,
        );
      }
      if (live) {
        const filled = Math.round((r.epoch / epochs) * BAR_WIDTH);
        writeStderr(
          `\r[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${r.epoch}/${epochs}  ` +
            `loss ${r.loss.toFixed(4)}`,
        );
      }
    },
    done(result, epochs) {
      clearBar();
      const last = result.history.at(-1);
      writeStdout(
        `done: ${epochs} epochs in ${(result.ms / 1000).toFixed(2)} s, ` +
          `${Math.round(result.samplesPerSecond).toLocaleString("en-US")} samples/s, ` +
          `${result.workers} worker${result.workers === 1 ? "" : "s"}, ${
            kernelsLabel(result.backend, result.kernelVariant)
          } backend; ` +
          `final loss ${last?.loss.toFixed(6)}, accuracy ${last?.accuracy.toFixed(4)}\n`,
      );
    },
  };
}
