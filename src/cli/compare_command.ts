import { diffRuns, parameterName, type RunDiff } from "../bench/run_diff.ts";
import { UsageError } from "../errors.ts";
import { kernelsLabel } from "../kernels/select.ts";
import { logicalCpus, writeStderr, writeStdout } from "../runtime/process.ts";
import { train, type TrainResult } from "../train/train.ts";
import { helpText, parseFlags, usageLines } from "./flags.ts";
import { inFlagTerms } from "./option_flags.ts";
import { MAX_WORKERS, TRAIN_FLAGS, trainingFromFlags } from "./train_command.ts";

/** Train flags that write files, log or resume: they have no meaning for a comparison. */
const NOT_COMPARED = new Set([
  "plot",
  "out",
  "log-format",
  "checkpoint",
  "checkpoint-every",
  "resume",
  "force",
]);

/**
 * The compare command's flags: the train flags that describe a training run; `--workers` is the
 * sharded runs' thread counts, a comma list as bench takes it, all logical CPUs by default (auto
 * could pick 0: nothing to compare).
 */
export const COMPARE_FLAGS = TRAIN_FLAGS.filter((spec) => !NOT_COMPARED.has(spec.name)).map((
  spec,
) =>
  spec.name === "workers"
    ? {
      name: spec.name,
      value: "COUNTS",
      type: "string" as const,
      help: `the sharded runs' worker threads, from 1 to ${MAX_WORKERS}, comma-separated: ` +
        "each is compared with --workers 0",
      default: String(logicalCpus()),
      defaultText: `logical CPUs (${logicalCpus()})`,
    }
    : spec
);

/** About this many epoch rows in the loss table; the first, last and first differing always show. */
const TABLE_ROWS = 20;

/**
 * `compare`: trains the configuration the flags describe with `--workers 0` and with
 * `--workers N`, prints both loss curves side by side and the largest parameter difference, and
 * says whether the final parameters are bit-identical. With several counts (`--workers 1,2,4`),
 * each is compared with the one `--workers 0` run, a row each. Returns 0 when all are
 * bit-identical, 1 when not: the trainer is deterministic, so the tolerance is zero.
 *
 * @example
 * ```ts
 * const status = await compareCommand(["--data", "data/breast_cancer.csv", "--workers", "3"]);
 * ```
 */
export async function compareCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, COMPARE_FLAGS);
  if (f.help) {
    console.log(
      helpText(usageLines("compare", "[flags]"), SUMMARY, COMPARE_FLAGS),
    );
    return 0;
  }
  const counts = workerCounts(f.workers as string);
  const { rows, options, notes: dataNotes } = trainingFromFlags(f);
  const notes = new Set<string>(dataNotes);
  const run = (w: number): Promise<TrainResult> => {
    writeStderr(`compare: training with --workers ${w} …\n`);
    return train(rows, { ...options, workers: w, onNote: (note) => notes.add(note) });
  };
  const single = await run(0);
  const compared: Compared[] = [];
  for (const workers of counts) {
    const sharded = await run(workers);
    compared.push({ sharded, diff: diffRuns(single, sharded) });
  }
  for (const note of notes) writeStderr(`note: ${inFlagTerms(note)}\n`);
  const batch = options.batchSize !== undefined ? `batches of ${options.batchSize}` : "full batch";
  const setup =
    `${f.data}, ${rows.samples} rows × ${rows.features} features, ${options.hidden} hidden ` +
    `units, ${f.dtype}, ${batch}, ${f.epochs} epochs, ` +
    `${kernelsLabel(single.backend, single.kernelVariant)} backend`;
  writeStdout(
    compared.length === 1
      ? comparisonText(setup, single, compared[0].sharded, compared[0].diff)
      : comparisonRows(setup, single, compared),
  );
  return compared.every((c) => c.diff.bitIdentical) ? 0 : 1;
}

/** One sharded run and how it differs from the single-thread one. */
interface Compared {
  readonly sharded: TrainResult;
  readonly diff: RunDiff;
}

/** The counts of `--workers 1,2,4`, each from 1 to MAX_WORKERS, in the order given, once each. */
function workerCounts(text: string): number[] {
  const counts = text.split(",").map((s) => s.trim());
  if (counts.some((c) => !/^\d+$/.test(c) || Number(c) < 1 || Number(c) > MAX_WORKERS)) {
    throw new UsageError(
      `--workers: expected integers from 1 to ${MAX_WORKERS} for the sharded runs, ` +
        `comma-separated, got "${text}"`,
    );
  }
  return [...new Set(counts.map(Number))];
}

/**
 * The printed comparison of several sharded runs with the single-thread one: a header naming the
 * configuration (`setup`), a row per worker count, then the verdict.
 *
 * @example
 * ```ts
 * writeStdout(comparisonRows("xor, 8192 rows", single, [{ sharded, diff: diffRuns(single, sharded) }]));
 * ```
 */
export function comparisonRows(
  setup: string,
  single: TrainResult,
  compared: readonly Compared[],
): string {
  const { features: n, hidden: h } = single.model;
  const columns = [
    "workers",
    "bit-identical",
    "first loss difference",
    "largest |Δ parameter|",
    "time",
    "speedup",
  ];
  const rows = compared.map(({ sharded, diff }) => [
    String(sharded.workers),
    diff.bitIdentical ? "yes" : "no",
    diff.firstLossDifference === null ? "none" : `epoch ${diff.firstLossDifference}`,
    diff.maxParamIndex === null
      ? "0"
      : `${diff.maxParamDifference.toExponential(3)} at ${parameterName(diff.maxParamIndex, n, h)}`,
    seconds(sharded.ms),
    `${(single.ms / sharded.ms).toFixed(2)}×`,
  ]);
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ")
      .trimEnd();
  const identical = compared.filter((c) => c.diff.bitIdentical).length;
  return [
    `single-thread (--workers 0) vs sharded (--workers ${
      compared.map((c) => c.sharded.workers).join(", ")
    })`,
    setup,
    `single-thread time: ${seconds(single.ms)}`,
    "",
    line(columns),
    ...rows.map(line),
    "",
    `final parameters are bit-identical: ${
      identical === compared.length ? "yes" : "no"
    } (${identical} of ${compared.length} worker counts)`,
    "",
  ].join("\n");
}

/**
 * The printed comparison: a header naming the configuration (`setup`), the loss table, then the
 * verdict.
 *
 * @example
 * ```ts
 * writeStdout(comparisonText("xor, 8192 rows", single, sharded, diffRuns(single, sharded)));
 * ```
 */
export function comparisonText(
  setup: string,
  single: TrainResult,
  sharded: TrainResult,
  diff: RunDiff,
): string {
  const { features: n, hidden: h } = single.model;
  const epochs = diff.losses.length;
  const a = `loss, workers 0`;
  const b = `loss, workers ${sharded.workers}`;
  const width = 22;
  const epochWidth = Math.max(5, String(epochs).length);
  const every = Math.max(1, Math.round(epochs / TABLE_ROWS));
  const shown = diff.losses.map((_, i) => i + 1).filter((e) =>
    e === 1 || e === epochs || e % every === 0 || e === diff.firstLossDifference
  );
  const lines = [
    `single-thread (--workers 0) vs sharded (--workers ${sharded.workers})`,
    setup,
    "",
    `${"epoch".padStart(epochWidth)}  ${a.padStart(width)}  ${b.padStart(width)}  ${
      "difference".padStart(12)
    }`,
    ...shown.map((e) => {
      const [x, y] = diff.losses[e - 1];
      return `${String(e).padStart(epochWidth)}  ${String(x).padStart(width)}  ` +
        `${String(y).padStart(width)}  ${signed(y - x).padStart(12)}`;
    }),
    "",
    diff.firstLossDifference === null
      ? `loss curves: identical in all ${epochs} epochs`
      : `loss curves: first differ at epoch ${diff.firstLossDifference}; largest |Δ loss| ` +
        `${diff.maxLossDifference.toExponential(3)}`,
    diff.maxParamIndex === null
      ? `largest |Δ parameter|: 0 over ${diff.parameters} parameters`
      : `largest |Δ parameter|: ${diff.maxParamDifference.toExponential(3)} at ` +
        `${parameterName(diff.maxParamIndex, n, h)}, over ${diff.parameters} parameters`,
    `final parameters are bit-identical: ${diff.bitIdentical ? "yes" : "no"}`,
    `time: ${seconds(single.ms)} single-thread, ${seconds(sharded.ms)} sharded ` +
    `(speedup ${(single.ms / sharded.ms).toFixed(2)}×)`,
    "",
  ];
  return lines.join("\n");
}

function signed(d: number): string {
  return d === 0 ? "0" : d.toExponential(2);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

const SUMMARY = "Trains the same configuration single-thread (--workers 0) and sharded " +
  "(--workers N), prints both loss curves side by side and the largest parameter difference, " +
  "and says whether the final parameters are bit-identical; with several counts " +
  "(--workers 1,2,4), a row each. Exits 0 when they are, 1 when they " +
  "differ (the trainer is deterministic: the tolerance is zero).";
