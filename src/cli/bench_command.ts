import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCharts } from "../bench/charts.ts";
import { describeMachine } from "../bench/machine.ts";
import { benchMarkdown } from "../bench/markdown.ts";
import { shapeSize } from "../bench/measure_train.ts";
import { type BenchSettings, planBench } from "../bench/plan.ts";
import { createProgress } from "../bench/progress.ts";
import { buildReport } from "../bench/report.ts";
import type { ChildRuntime } from "../bench/run_child.ts";
import { ATTEMPTS, BUSY_SHARE, runPlan } from "../bench/run_plan.ts";
import { measureOptimizers } from "../bench/measure_optimizers.ts";
import { preset, PRESET_NAMES, type PresetName, type Workload } from "../bench/workloads.ts";
import { GENERATOR_KINDS } from "../data/generators.ts";
import { findNatsServer } from "../engines/cluster/nats_server.ts";
import type { Dtype } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import { BACKEND_CHOICES, type BackendChoice, resolveBackend } from "../kernels/select.ts";
import { logicalCpus, writeStderr, writeStdout } from "../runtime/process.ts";
import {
  currentRuntime,
  findRuntime,
  RUNTIME_KINDS,
  type RuntimeKind,
} from "../runtime/runtimes.ts";
import { type FlagSpec, type FlagValues, helpText, parseFlags, usageLines } from "./flags.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The custom workload's defaults: the L shape. */
const CUSTOM = { data: "xor", samples: 32768, features: 256, hidden: 64, dtype: "f32" } as const;
const CUSTOM_FLAGS = ["data", "samples", "features", "hidden", "dtype"];

/** Strong scaling always covers these counts, and powers of two up to twice the logical CPUs. */
const BASE_WORKERS = [0, 1, 2, 4, 8];

function defaultWorkers(): number[] {
  const counts = new Set(BASE_WORKERS);
  for (let w = 16; w <= 2 * logicalCpus(); w *= 2) counts.add(w);
  return [...counts].sort((a, b) => a - b);
}

/** The bench command's flags. */
export const BENCH_FLAGS: readonly FlagSpec[] = [
  {
    name: "workloads",
    value: "WORKLOADS",
    type: "string",
    help: "comma-separated: small (data/breast_cancer.csv, h 16, f64), L (xor 32768 × 256, " +
      "h 64, f32), XL (262144 rows, same n and h), custom (the --data … --dtype flags)",
    defaultText: "small,L,XL; with --quick small,L",
  },
  {
    name: "workers",
    value: "COUNTS",
    type: "string",
    help: "comma-separated worker counts; 0, the baseline, is always measured",
    defaultText: defaultWorkers().join(","),
  },
  {
    name: "cluster-processes",
    value: "LIST",
    type: "string",
    help: "train every workload on loopback clusters of this many worker processes as well " +
      "(1 thread each; nats-server must be installed), comma-separated, e.g. 1,2,4; 0: none",
    defaultText: "small 1,2 when nats-server is installed, the others none",
  },
  {
    name: "runtime",
    alias: "runtimes",
    value: "RUNTIMES",
    type: "string",
    help: "run every measurement on each of these, comma-separated (deno, bun)",
    defaultText: "deno,bun where found",
  },
  {
    name: "backend",
    value: "BACKENDS",
    type: "string",
    help: `kernel backends to measure, comma-separated (${BACKEND_CHOICES.join(", ")})`,
    default: "auto",
  },
  {
    name: "repeats",
    value: "R",
    type: "integer",
    min: 1,
    help: "timed epochs per configuration",
    defaultText: "small 3000, L 24, XL 10; with --quick 500, 10",
  },
  {
    name: "warmup",
    value: "W",
    type: "integer",
    min: 0,
    help: "untimed epochs before them",
    defaultText: "small 500, L 40, XL 2; with --quick 200, 2",
  },
  {
    name: "rounds",
    value: "K",
    type: "integer",
    min: 1,
    help: "scaling: measure every worker count in K interleaved rounds, each configuration's " +
      "timed epochs split among them",
    defaultText: "small 5, L 12, XL 3, custom and weak 3; with --quick 2",
  },
  {
    name: "weak-samples",
    value: "ROWS",
    type: "integer",
    min: 1,
    help: "weak scaling: rows per worker, in the L shape",
    defaultText: "8192; with --quick 4096",
  },
  {
    name: "data",
    value: "SRC",
    type: "string",
    help: `custom workload: a CSV file or a generator (${GENERATOR_KINDS.join(", ")})`,
    defaultText: CUSTOM.data,
  },
  {
    name: "samples",
    value: "M",
    type: "integer",
    min: 1,
    help: "custom workload: generated rows",
    defaultText: String(CUSTOM.samples),
  },
  {
    name: "features",
    value: "N",
    type: "integer",
    min: 2,
    help: "custom workload: generated features",
    defaultText: String(CUSTOM.features),
  },
  {
    name: "hidden",
    value: "H",
    type: "integer",
    min: 1,
    help: "custom workload: hidden units",
    defaultText: String(CUSTOM.hidden),
  },
  {
    name: "dtype",
    value: "DTYPE",
    type: "string",
    choices: ["f32", "f64"],
    help: "custom workload: precision",
    defaultText: CUSTOM.dtype,
  },
  {
    name: "attempts",
    value: "A",
    type: "integer",
    min: 1,
    help:
      `measure a scaling configuration up to A times while other processes take over ${
        BUSY_SHARE * 100
      } % of the CPUs, waiting for the machine to go idle before each retake, and keep the ` +
      "quietest; 1 measures once and never waits",
    default: ATTEMPTS,
  },
  {
    name: "out-dir",
    value: "DIR",
    type: "string",
    help: "write bench.json, bench.md and the SVG charts here",
    default: "out/bench",
  },
  {
    name: "quick",
    type: "switch",
    help: "a reduced run: small and L, fewer repetitions (under 2 minutes on 2 cores)",
  },
  {
    name: "optimizers",
    type: "switch",
    help: "instead: each optimizer's epoch against sgd's, side by side in this process, on L " +
      "at 2 workers (--workers: another count; --rounds, --warmup, --repeats apply); writes " +
      "optimizers.json to --out-dir",
  },
];

/**
 * `bench`: measures strong and weak scaling, the per-step breakdown, peak memory and the
 * micro-benchmarks on Deno and Bun, then writes the JSON, Markdown and SVG reports.
 *
 * @example
 * ```ts
 * await benchCommand(["--quick", "--out-dir", "out/bench"]);
 * ```
 */
export async function benchCommand(args: readonly string[]): Promise<number> {
  const f = parseFlags(args, BENCH_FLAGS);
  const usage = currentRuntime() === "deno" ? "deno task bench" : "bun run bench";
  if (f.help) {
    console.log(helpText(usageLines("bench", "[flags]"), SUMMARY, BENCH_FLAGS));
    return 0;
  }
  if (f.optimizers === true) return await optimizersCommand(f);
  const settings = settingsFromFlags(f);
  const out = f["out-dir"] as string;
  mkdirSync(out, { recursive: true });
  const machine = describeMachine();
  const items = planBench(settings);
  const measured = await runPlan(items, createProgress(items.length), {
    attempts: f.attempts as number,
  });
  const report = buildReport(measured, machine, [usage, ...args].join(" "));
  const markdown = benchMarkdown(report);
  writeFileSync(join(out, "bench.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(out, "bench.md"), markdown);
  for (const chart of await renderCharts(report)) writeFileSync(join(out, chart.file), chart.svg);
  writeStdout(markdown);
  writeStderr(`bench: wrote bench.json, bench.md and the charts to ${out}\n`);
  return 0;
}

/** `bench --optimizers`: the update's cost, each optimizer's epoch over plain sgd's. */
async function optimizersCommand(f: FlagValues): Promise<number> {
  const allowed = ["optimizers", "workers", "rounds", "warmup", "repeats", "backend", "out-dir"];
  const stray = BENCH_FLAGS.find((spec) =>
    !allowed.includes(spec.name) && f[spec.name] !== undefined && f[spec.name] !== spec.default
  );
  if (stray) throw new UsageError(`--${stray.name}: not with --optimizers`);
  const workers = f.workers === undefined ? 2 : workerCount(f.workers as string);
  const backend = backends(f.backend as string);
  if (backend.length !== 1) throw new UsageError("--backend: one backend with --optimizers");
  const comparison = await measureOptimizers(
    preset("L", false),
    workers,
    backend[0] as BackendChoice,
    (f.rounds as number | undefined) ?? 5,
    (f.warmup as number | undefined) ?? 10,
    (f.repeats as number | undefined) ?? 20,
  );
  const out = f["out-dir"] as string;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "optimizers.json"), JSON.stringify(comparison, null, 2) + "\n");
  const ms = (x: number) => x.toFixed(2);
  const lines = [
    `L (${comparison.shape.samples} × ${comparison.shape.features}, h ${comparison.shape.hidden}, ` +
    `${comparison.shape.dtype}), ${workers} workers, ${comparison.runtime}, ` +
    `${comparison.backend}, ${comparison.rounds} rounds: median epoch (min–max over rounds); ` +
    `ratio to sgd in the same round; reduce+update per epoch and thread`,
    ...Object.entries(comparison.epochMs).map(([name, e]) => {
      const r = comparison.ratioToSgd[name];
      const u = comparison.reduceUpdateMs[name];
      return `${name.padEnd(13)} ${ms(e.median)} ms (${ms(e.min)}–${ms(e.max)})  ` +
        `× ${r.median.toFixed(3)} (${r.min.toFixed(3)}–${r.max.toFixed(3)})  ` +
        `reduce+update ${ms(u.median)} ms (${ms(u.min)}–${ms(u.max)})`;
    }),
  ];
  writeStdout(lines.join("\n") + "\n");
  return 0;
}

function settingsFromFlags(f: FlagValues): BenchSettings {
  const quick = f.quick === true;
  const customGiven = CUSTOM_FLAGS.some((name) => f[name] !== undefined);
  const names = f.workloads !== undefined
    ? list(f.workloads as string, "workloads", [...PRESET_NAMES, "custom"])
    : customGiven
    ? ["custom"]
    : quick
    ? ["small", "L"]
    : [...PRESET_NAMES];
  if (customGiven && !names.includes("custom")) {
    throw new UsageError(
      `--${
        CUSTOM_FLAGS.find((n) => f[n] !== undefined)
      }: describes the custom workload; add custom to --workloads`,
    );
  }
  const cluster = f["cluster-processes"] === undefined ? undefined : [
    ...new Set(
      list(f["cluster-processes"] as string, "cluster-processes").map((p) => workerCount(p)),
    ),
  ]
    .filter((p) => p > 0).sort((a, b) => a - b);
  let natsServer: boolean | undefined;
  const clusterOf = (w: Workload): readonly number[] => {
    if (cluster !== undefined) return cluster;
    if ((w.cluster ?? []).length === 0) return [];
    natsServer ??= natsServerInstalled();
    return natsServer ? w.cluster! : [];
  };
  const override = (w: Workload): Workload => {
    const sized = { ...w, ...shapeSize(w) };
    return {
      ...sized,
      cluster: clusterOf(w),
      ...(f.repeats !== undefined ? { repeats: f.repeats as number } : {}),
      ...(f.warmup !== undefined ? { warmup: f.warmup as number } : {}),
      ...(f.rounds !== undefined ? { rounds: f.rounds as number } : {}),
    };
  };
  const workloads = names.map((name) =>
    override(name === "custom" ? custom(f, quick) : preset(name as PresetName, quick))
  );
  const weakSamples = (f["weak-samples"] as number | undefined) ?? (quick ? 4096 : 8192);
  const workers = f.workers !== undefined
    ? [...new Set([0, ...list(f.workers as string, "workers").map((w) => workerCount(w))])].sort((
      a,
      b,
    ) => a - b)
    : defaultWorkers();
  return {
    workloads,
    workers,
    runtimes: runtimes(f.runtime as string | undefined),
    backends: backends(f.backend as string),
    weak: override({
      ...preset("L", quick),
      name: "weak",
      samples: weakSamples,
      rounds: quick ? 2 : 3,
    }),
    microTaskMs: quick ? 100 : 400,
  };
}

/** Whether nats-server is there for the default cluster configurations; a note when it is not. */
function natsServerInstalled(): boolean {
  try {
    findNatsServer();
    return true;
  } catch (e) {
    writeStderr(`note: ${(e as Error).message}; measuring no cluster configurations\n`);
    return false;
  }
}

/** The backends the choices mean on this machine, each once (`auto` and what it picks are one). */
function backends(text: string): string[] {
  const names = list(text, "backend", BACKEND_CHOICES).map((choice) => {
    const { name, note } = resolveBackend(choice as BackendChoice);
    if (note) writeStderr(`note: ${note}\n`);
    return name;
  });
  return [...new Set(names)];
}

function custom(f: FlagValues, quick: boolean): Workload {
  return {
    name: "custom",
    data: (f.data as string | undefined) ?? CUSTOM.data,
    samples: (f.samples as number | undefined) ?? CUSTOM.samples,
    features: (f.features as number | undefined) ?? CUSTOM.features,
    hidden: (f.hidden as number | undefined) ?? CUSTOM.hidden,
    dtype: (f.dtype as Dtype | undefined) ?? CUSTOM.dtype,
    warmup: quick ? 2 : 3,
    repeats: quick ? 10 : 20,
    rounds: quick ? 2 : 3,
  };
}

/** A comma-separated list, each entry checked against `choices` when given. */
function list(text: string, flag: string, choices?: readonly string[]): string[] {
  const items = text.split(",").map((s) => s.trim());
  for (const item of items) {
    if (item === "" || (choices && !choices.includes(item))) {
      const accepted = choices
        ? `a comma-separated list of ${choices.join(", ")}`
        : "a comma-separated list";
      throw new UsageError(`--${flag}: expected ${accepted}, got "${text}"`);
    }
  }
  return [...new Set(items)];
}

function workerCount(text: string): number {
  if (!/^\d+$/.test(text)) {
    throw new UsageError(`--workers: expected comma-separated integers ≥ 0, got "${text}"`);
  }
  return Number(text);
}

function runtimes(text: string | undefined): ChildRuntime[] {
  const kinds =
    (text === undefined
      ? [...RUNTIME_KINDS]
      : list(text, "runtime", RUNTIME_KINDS)) as RuntimeKind[];
  const found: ChildRuntime[] = [];
  for (const kind of kinds) {
    const binary = findRuntime(kind, ROOT);
    if (binary !== null) {
      found.push({ kind, binary });
    } else if (text !== undefined) {
      throw new UsageError(
        `--runtime: ${kind} is not installed (looked in node_modules/.bin and PATH)`,
      );
    } else {
      writeStderr(`note: ${kind} is not installed; measuring ${currentRuntime()} only\n`);
    }
  }
  return found;
}

const SUMMARY = "Measures how data-parallel training scales: strong and weak scaling over worker " +
  "counts, where each step's time goes, peak memory, kernel and synchronization " +
  "micro-benchmarks, on Deno and Bun, next to NumPy when python3 has it. Writes bench.json, " +
  "bench.md and SVG charts to --out-dir and prints the Markdown.";
