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
 * sharded run's thread count, all logical CPUs by default (auto could pick 0: nothing to compare).
 */
export const COMPARE_FLAGS = TRAIN_FLAGS.filter((spec) => !NOT_COMPARED.has(spec.name)).map((
  spec,
) =>
  spec.name === "workers"
    ? {
      name: spec.name,
      value: "W",
      type: "integer" as const,
      min: 0,
      max: MAX_WORKERS,
      help: `the sharded run's worker threads, from 1 to ${MAX_WORKERS}`,
      default: logicalCpus(),
      defaultText: `logical CPUs (${logicalCpus()})`,
    }
    : spec
);

/** About this many epoch rows in the loss table; the first, last and first differing always show. */
const TABLE_ROWS = 20;

/**
 * `compare`: trains the configuration the flags describe with `--workers 0` and with
 * `--workers N`, prints both loss curves side by side and the largest parameter difference, and
 * says whether the final parameters are bit-identical. Returns 0 when they are, 1 when not: the
 * trainer is deterministic, so the tolerance is zero.
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
  const workers = f.workers as number;
  if (workers < 1) {
    throw new UsageError(`--workers: expected an integer ≥ 1 for the sharded run, got ${workers}`);
  }
  const { rows, options, notes: dataNotes } = trainingFromFlags(f);
  const notes = new Set<string>(dataNotes);
  const run = (w: number): Promise<TrainResult> => {
    writeStderr(`compare: training with --workers ${w} …\n`);
    return train(rows, { ...options, workers: w, onNote: (note) => notes.add(note) });
  };
  const single = await run(0);
  const sharded = await run(workers);
  for (const note of notes) writeStderr(`note: ${inFlagTerms(note)}\n`);
  const diff = diffRuns(single, sharded);
  const batch = options.batchSize !== undefined ? `batches of ${options.batchSize}` : "full batch";
  const setup =
    `${f.data}, ${rows.samples} rows × ${rows.features} features, ${options.hidden} hidden ` +
    `units, ${f.dtype}, ${batch}, ${f.epochs} epochs, ` +
    `${kernelsLabel(single.backend, single.kernelVariant)} backend`;
  writeStdout(comparisonText(setup, single, sharded, diff));
  return diff.bitIdentical ? 0 : 1;
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
  "and says whether the final parameters are bit-identical. Exits 0 when they are, 1 when they " +
  "differ (the trainer is deterministic: the tolerance is zero).";
