import { readCsv } from "../data/csv.ts";
import { createProgress } from "../bench/progress.ts";
import { measureSweep, type SweepSetting, type SweepTimings } from "../bench/measure_sweep.ts";
import { speedupInterval } from "../bench/speedup_interval.ts";
import { spread } from "../bench/spread.ts";
import { UsageError } from "../errors.ts";
import { environmentVariable, logicalCpus, runtimeName, writeStdout } from "../runtime/process.ts";
import { OPENBLAS_OVERRIDES } from "../bench/numpy_reference.ts";
import { type FlagSpec, helpText, parseFlags } from "./flags.ts";

const DATA = "data/breast_cancer.csv";
/** The grid of the goal: 3 learning rates × 3 hidden sizes × 3 seeds. */
const AXES = { learningRate: [0.1, 0.5, 1], hidden: [8, 16, 32], seed: [1, 2, 3] };
const FOLDS = 5;

/** The sweep bench's flags. */
export const SWEEP_BENCH_FLAGS: readonly FlagSpec[] = [
  {
    name: "threads",
    value: "LIST",
    type: "string",
    help: "comma-separated thread counts; 0 (one run after another in the main thread) is the " +
      "baseline and always measured",
    default: "0,2",
  },
  { name: "rounds", value: "R", type: "integer", min: 1, help: "timed rounds", default: 5 },
  {
    name: "warmup",
    value: "W",
    type: "integer",
    min: 0,
    help: "untimed rounds first, in which the main thread and kept threads warm up",
    default: 2,
  },
  { name: "epochs", value: "E", type: "integer", min: 1, help: "epochs per run", default: 300 },
];

/**
 * `sweep-bench`: times a 27-configuration, 5-fold sweep on breast cancer on several thread
 * counts side by side, in rounds, and prints each count's median wall time with its spread and
 * its speedup over the main thread alone.
 *
 * @example
 * ```ts
 * await sweepBenchCommand(["--threads", "0,1,2", "--rounds", "7"]);
 * ```
 */
export async function sweepBenchCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, SWEEP_BENCH_FLAGS);
  if (f.help) {
    console.log(helpText("deno task sweep-bench [flags]", SUMMARY, SWEEP_BENCH_FLAGS));
    return 0;
  }
  const texts = (f.threads as string).split(",");
  const counts = texts.map((t) => Number(t.trim()));
  if (counts.some((c, i) => !/^\s*\d+\s*$/.test(texts[i]) || c > 64)) {
    throw new UsageError(`--threads: expected integers from 0 to 64, got "${f.threads}"`);
  }
  const threadCounts = [...new Set([0, ...counts])].sort((a, b) => a - b);
  // Each count of threads started per sweep (as one sweep command has them) and kept from round
  // to round (warm, as the main thread is after its first round).
  const settings: SweepSetting[] = threadCounts.flatMap((threads) =>
    threads === 0 ? [{ threads, kept: false }] : [
      { threads, kept: false },
      { threads, kept: true },
    ]
  );
  const rounds = f.rounds as number;
  const epochs = f.epochs as number;
  const data = readCsv(DATA);
  const configs = AXES.learningRate.length * AXES.hidden.length * AXES.seed.length;
  const progress = createProgress(rounds * settings.length);
  const timings = await measureSweep(
    data,
    { base: { epochs }, axes: AXES, evaluation: { folds: FOLDS, seed: 1 } },
    settings,
    rounds,
    f.warmup as number,
    (round, setting) => progress.begin(`round ${round + 1} · ${label(setting)}`),
    (_, __, ms, share) =>
      progress.end(
        `${(ms / 1000).toFixed(2)} s` +
          (share === null ? "" : `, others took ${percent(share)} of the CPUs`),
      ),
  );
  progress.finish();
  const base = timings.ms[0];
  const lines = [
    `sweep bench: ${configs} configurations (lr ${AXES.learningRate.join(",")} × hidden ` +
    `${AXES.hidden.join(",")} × seed ${AXES.seed.join(",")}) × ${FOLDS} folds = ` +
    `${configs * FOLDS} runs of ${epochs} epochs on ${DATA} (${data.samples} rows); ` +
    `${runtimeName()}, ${logicalCpus()} logical CPUs, ${rounds} rounds after ${f.warmup} ` +
    "untimed",
    ...overrides(),
    "",
    "threads    median s  min s    max s    cores  cpu s    others  speedup (median; range over " +
    "rounds; 90 % interval)",
    ...settings.map((setting, k) => {
      const s = spread(timings.ms[k]);
      const ratios = spread(base.map((b, r) => b / timings.ms[k][r]));
      const interval = speedupInterval(base.map((b) => [b]), timings.ms[k].map((t) => [t]));
      const speedup = setting.threads === 0
        ? "baseline"
        : `${(spread(base).median / s.median).toFixed(2)}×; ` +
          `${ratios.min.toFixed(2)}–${ratios.max.toFixed(2)}×` +
          (interval ? `; ${interval.low.toFixed(2)}–${interval.high.toFixed(2)}×` : "");
      const shares = timings.otherShare[k].filter((v) => v !== null);
      const others = shares.length ? percent(spread(shares).median) : "-";
      const used = timings.cores[k].filter((v) => v !== null);
      const cores = used.length ? spread(used).median.toFixed(2) : "-";
      const cpu = cpuSeconds(timings, k);
      const cpuText = cpu.length ? spread(cpu).median.toFixed(2) : "-";
      return `${label(setting).padEnd(9)}  ${secs(s.median)}  ${secs(s.min)}  ${secs(s.max)}  ` +
        `${cores.padEnd(5)}  ${cpuText.padEnd(7)}  ${others.padEnd(6)}  ${speedup}`;
    }),
    "",
    "cores: the median CPUs this process kept busy during a sweep (CPU time / wall time); " +
    "cpu s: the median CPU time of a sweep, all its threads (the runtime's own included), which " +
    "other processes do not inflate as they do wall time; " +
    "others: the median share of the CPUs that other processes took. " +
    "N: threads started for each sweep and ended with it, as one sweep command has them; " +
    "N kept: the same threads for every round (SweepThreads), warm from the first round on " +
    "as the main thread of 0 is.",
    ...overOneThread(settings, timings),
    `every run bit-identical across settings and rounds: ${timings.identical ? "yes" : "NO"}`,
    "",
  ];
  writeStdout(lines.join("\n"));
  return timings.identical ? 0 : 1;
}

/**
 * With 1 thread among the counts, each larger count's speedup over 1 thread started the same way:
 * one worker thread trains the same runs one after another and, like each thread of a larger
 * count, starts cold when started per sweep.
 */
function overOneThread(settings: readonly SweepSetting[], timings: SweepTimings): string[] {
  return [false, true].flatMap((kept) => {
    const one = settings.findIndex((s) => s.threads === 1 && s.kept === kept);
    if (one < 0) return [];
    const base = timings.ms[one];
    return [
      `over 1 thread${kept ? " kept" : " (cold, as each thread of the others)"}: ` +
      settings.flatMap((setting, k) => {
        if (setting.threads <= 1 || setting.kept !== kept) return [];
        const { threads } = setting;
        const ratios = spread(base.map((b, r) => b / timings.ms[k][r]));
        const interval = speedupInterval(base.map((b) => [b]), timings.ms[k].map((t) => [t]));
        return [
          `${threads} threads ${(spread(base).median / spread(timings.ms[k]).median).toFixed(2)}×` +
          ` (${ratios.min.toFixed(2)}–${ratios.max.toFixed(2)}×` +
          (interval ? `; ${interval.low.toFixed(2)}–${interval.high.toFixed(2)}×)` : ")"),
        ];
      }).join(", "),
    ];
  });
}

/**
 * The OpenBLAS overrides set in this process's environment, which the sweeps ran with (bench
 * removes them for its children; a sweep here runs in this process).
 */
function overrides(): string[] {
  const set = OPENBLAS_OVERRIDES.flatMap((name) => {
    const value = environmentVariable(name);
    return value === undefined ? [] : [`${name}=${value}`];
  });
  return set.length === 0 ? [] : [
    `environment: ${set.join(", ")} (overriding OpenBLAS's tuning for this CPU; unset them to ` +
    "measure OpenBLAS as it tunes itself, as bench does)",
  ];
}

function label(setting: SweepSetting): string {
  return setting.kept ? `${setting.threads} kept` : String(setting.threads);
}

/** Per round, the CPU seconds of thread count `k`'s sweep, where the platform tells. */
function cpuSeconds(timings: SweepTimings, k: number): number[] {
  return timings.cores[k].flatMap((c, r) => c === null ? [] : [(c * timings.ms[k][r]) / 1000]);
}

function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2).padEnd(7);
}

const SUMMARY = "Times the same hyperparameter sweep (27 configurations × 5 folds on " +
  "data/breast_cancer.csv) on several thread counts side by side, in rounds, and prints each " +
  "count's median wall time, its spread, and its speedup over running every run one after " +
  "another in the main thread. Exits 1 if any run's parameters differ between thread counts.";
