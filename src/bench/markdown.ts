import { autoWorkers } from "../engines/auto_workers.ts";
import { chunkCount, chunkRowsFor } from "../core/shards.ts";
import type { BenchReport, ClusterRow, StrongRow } from "./report.ts";
import { BUSY_SHARE } from "./run_plan.ts";
import { INTERVAL_LEVEL } from "./speedup_interval.ts";
import type { Spread } from "./spread.ts";

/** The chart files `renderCharts` writes, as the Markdown report links them. */
const CHART_LINKS = [
  ["Speedup", "speedup.svg"],
  ["Per-step breakdown", "phases.svg"],
  ["Weak scaling", "weak_scaling.svg"],
  ["Peak memory", "memory.svg"],
];

/**
 * The report as Markdown: the machine, then one table per measurement kind, then the charts.
 *
 * @example
 * ```ts
 * writeFileSync("out/bench/bench.md", benchMarkdown(report));
 * ```
 */
export function benchMarkdown(r: BenchReport): string {
  const lines: string[] = [
    "# shardnet benchmark",
    "",
    `\`${r.command}\`, ${r.date.slice(0, 16).replace("T", " ")} UTC.`,
    "",
    `**Machine:** ${machineLine(r)}`,
    "",
    ...workloadLines(r),
    "",
    `GFLOP/s counts ${r.flopsFormula} floating-point operations per full-batch epoch (m rows, ` +
    `n features, h hidden units). Times are the median (min–max) of the timed epochs after the ` +
    `warm-up epochs, each configuration in a fresh process. Scaling runs go in rounds over every ` +
    `worker count, each configuration's epochs split among the rounds and pooled, so that a ` +
    `slow spell of the shared machine falls on all worker counts alike.`,
    "",
    "## Strong scaling",
    "",
    "Speedup is over `--workers 0` (the main thread alone) on the same runtime and backend; " +
    "efficiency is speedup per core used, speedup / min(workers, cores). The range after a " +
    `speedup is its ${INTERVAL_LEVEL * 100} % bootstrap interval: the rounds resampled with ` +
    "replacement, the same rounds for both worker counts, which ran side by side in each. " +
    "*others' CPU* is the " +
    "share of the machine's CPU time that other processes took during the timed epochs; " +
    (r.measurements.attempts > 1
      ? `a configuration measured while they took more than ${BUSY_SHARE * 100} % is measured ` +
        `again when the machine is idle, up to ${r.measurements.attempts} times in all, and the ` +
        "quietest is kept: where the share is still not near 0 %, the row measured a busy machine."
      : "each configuration was measured once: where the share is not near 0 %, the row " +
        "measured a busy machine."),
    "",
    table(
      [
        "workload",
        "runtime",
        "backend",
        "workers",
        "epoch ms",
        "speedup",
        "efficiency",
        "GFLOP/s",
        "epochs/s",
        "samples/s",
        "others' CPU",
      ],
      r.strong.map((s) => [
        s.workload,
        s.runtime,
        s.backend,
        String(s.workers),
        spreadText(s.epochMs),
        speedupText(s),
        s.efficiency.toFixed(2),
        num(s.gflops),
        num(s.epochsPerSecond),
        Math.round(s.samplesPerSecond).toLocaleString("en-US"),
        percent(s.otherCpuShare),
      ]),
    ),
    "",
    ...autoLines(r),
    "## Where a step's time goes",
    "",
    "Milliseconds per step from the trainer's own per-thread timers, averaged over the run's " +
    "steps and over the computing threads: computing partial gradients, waiting until every chunk is done (barrier), " +
    "reducing the partials and updating a parameter slice (one fused pass), and coordination " +
    "(the rest of the wall time: publishing the step, waking the threads, the epoch loop). " +
    "**sync** is the per-step cost of synchronization: wall time minus the compute time of the " +
    "thread that computed longest.",
    "",
    table(
      [
        "workload",
        "runtime",
        "backend",
        "workers",
        "wall",
        "compute (max)",
        "barrier",
        "reduce+update",
        "coordination",
        "sync",
        "sync share",
      ],
      r.phases.map((p) => [
        p.workload,
        p.runtime,
        p.backend,
        String(p.workers),
        num(p.wallMs),
        `${num(p.computeMs)} (${num(p.computeMaxMs)})`,
        num(p.barrierMs),
        num(p.reduceMs),
        num(p.coordinationMs),
        num(p.syncMs),
        `${((100 * p.syncMs) / p.wallMs).toFixed(1)} %`,
      ]),
    ),
    "",
    "## Peak memory",
    "",
    "Peak resident set size (VmHWM) of the whole process, all threads, in MiB; the data set lives " +
    "once in shared memory whatever the worker count, so each worker adds only its runtime's " +
    "fixed cost (an isolate, its heap and the compiled code) and its small scratch area.",
    "",
    ...memoryTable(r.strong),
    "",
    "## Weak scaling",
    "",
    "Rows grow with the workers; efficiency is the median epoch time at workers 0 over this one " +
    "(ideally 1 while workers ≤ cores).",
    "",
    table(
      [
        "runtime",
        "backend",
        "workers",
        "rows",
        "epoch ms",
        "efficiency",
        "samples/s",
        "others' CPU",
      ],
      r.weak.map((w) => [
        w.runtime,
        w.backend,
        String(w.workers),
        String(w.samples),
        spreadText(w.epochMs),
        w.efficiency.toFixed(2),
        Math.round(w.samplesPerSecond).toLocaleString("en-US"),
        percent(w.otherCpuShare),
      ]),
    ),
    "",
    ...(r.cluster.length === 0 ? [] : [
      "## Cluster on loopback NATS",
      "",
      "The same workloads trained by worker processes of one thread each through a nats-server on " +
      "this machine (`bench --cluster-processes`), in the same rounds as the worker threads: the " +
      "epoch time over that of as many threads (1 = no cost for the processes and the wire); " +
      "the *overhead* per step, the median step time minus that of `--workers 0`, with its " +
      `${INTERVAL_LEVEL * 100} % bootstrap interval over the rounds (paired by round); the ` +
      "coordinator's wait per step beyond the slowest worker's own work; the bytes it sent and " +
      "received per step; and per worker process the rows of a step it computes (in full batch, " +
      "all the data it holds) and its peak resident memory (the largest of the workers).",
      "",
      table(
        [
          "workload",
          "runtime",
          "backend",
          "processes",
          "epoch ms",
          "vs threads",
          "ms/step",
          "overhead ms/step",
          "sync ms/step",
          "bytes/step",
          "rows/worker",
          "worker peak MiB",
        ],
        r.cluster.map((c) => [
          c.workload,
          c.runtime,
          c.backend,
          String(c.processes),
          spreadText(c.epochMs),
          num(c.vsThreads),
          num(c.stepMs),
          overheadText(c),
          num(c.syncMs),
          Math.round(c.bytesPerStep).toLocaleString("en-US"),
          c.rowsPerProcess.length === 0 ? "–" : String(c.rowsPerProcess[0]),
          c.workerPeakRssBytes[0] == null ? "–" : num(c.workerPeakRssBytes[0] / 2 ** 20),
        ]),
      ),
      "",
    ]),
    "## Micro-benchmarks (tinybench)",
    "",
    "Each kernel on one chunk of rows of each workload; reduce+update sums every chunk's partial " +
    "gradient and takes the step over all parameters, update does it for one chunk (the step " +
    "alone); the step round-trip is one synchronized step through the worker threads on an " +
    "8-row batch, where nearly all of the time is synchronization.",
    "",
    table(
      ["runtime", "backend", "benchmark", "workload", "µs", "GFLOP/s", "GB/s"],
      r.micro.map((m) => [
        m.runtime,
        m.backend,
        m.name + (m.workers !== undefined ? `, ${m.workers} workers` : ""),
        m.shape + (m.rows !== undefined ? ` (${m.rows} rows)` : ""),
        spreadText(m.us),
        m.gflops !== undefined ? num(m.gflops) : "",
        m.gbPerSecond !== undefined ? num(m.gbPerSecond) : "",
      ]),
    ),
    "",
    "## NumPy reference",
    "",
    ...numpyLines(r),
    "",
    "## Charts",
    "",
    ...CHART_LINKS.map(([title, file]) => `![${title}](${file})`),
    "",
  ];
  return lines.join("\n");
}

function machineLine(r: BenchReport): string {
  const m = r.machine;
  return `${m.cpu}, ${m.logicalCores} logical cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB ` +
    `memory, ${m.os}; ${r.runtimes.join(", ")}; load average ${m.loadAverage[0]} when the run ` +
    `started.`;
}

function workloadLines(r: BenchReport): string[] {
  const seen = new Map<string, StrongRow>();
  for (const s of r.strong) if (!seen.has(s.workload)) seen.set(s.workload, s);
  return [...seen.values()].map((s) => {
    const run = r.measurements.strong.find((t) => t.workload.name === s.workload)!;
    const rounds = run.roundEpochMs.length;
    return `- **${s.workload}**: \`${run.workload.data}\`, ${s.samples} × ${s.features}, ` +
      `h = ${s.hidden}, ${s.dtype}, full batch; ${run.measurement.epochMs.length} timed epochs ` +
      `per configuration, in ${rounds} round${rounds === 1 ? "" : "s"} (a fresh ` +
      `process each, after ${run.workload.warmup} warm-up epochs).`;
  });
}

function memoryTable(strong: readonly StrongRow[]): string[] {
  const workers = [...new Set(strong.map((s) => s.workers))].sort((a, b) => a - b);
  const groups = new Map<string, StrongRow[]>();
  for (const s of strong) {
    const key = `${s.workload}|${s.runtime}|${s.backend}`;
    groups.set(key, [...groups.get(key) ?? [], s]);
  }
  const mib = (bytes: number | null | undefined) =>
    bytes === null || bytes === undefined ? "–" : (bytes / 2 ** 20).toFixed(0);
  const rows = [...groups.values()].map((g) => {
    const most = g.reduce((a, b) => (b.workers > a.workers ? b : a));
    return [
      g[0].workload,
      g[0].runtime,
      g[0].backend,
      ...workers.map((w) => mib(g.find((s) => s.workers === w)?.peakRssBytes)),
      mib(most.rssPerWorkerBytes),
    ];
  });
  return [
    table(
      ["workload", "runtime", "backend", ...workers.map((w) => `workers ${w}`), "per worker"],
      rows,
    ),
    "",
    `"per worker" is (peak at workers ${workers.at(-1)} − peak at workers 0) / ${workers.at(-1)}.`,
  ];
}

/**
 * What `--workers auto`, the default, picks for each measured workload and backend on this
 * machine, beside the fastest measured count: auto trains with the count it picks, so its epoch
 * time is that count's.
 */
function autoLines(r: BenchReport): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const s of r.strong) {
    const key = `${s.workload}\u0000${s.backend}`;
    if (seen.has(key) || (s.backend !== "wasm" && s.backend !== "blas" && s.backend !== "js")) {
      continue;
    }
    seen.add(key);
    const { workers } = autoWorkers({
      batchRows: s.samples,
      chunks: chunkCount(s.samples, Math.min(chunkRowsFor(s.samples), s.samples)),
      features: s.features,
      hidden: s.hidden,
      dtype: s.dtype,
      backend: s.backend,
      cpus: r.machine.logicalCores,
    });
    const rows = r.strong.filter((t) => t.workload === s.workload && t.backend === s.backend);
    const verdicts = [...new Set(rows.map((t) => t.runtime))].map((runtime) => {
      const mine = rows.filter((t) => t.runtime === runtime);
      const best = mine.reduce((a, b) => b.epochMs.median < a.epochMs.median ? b : a);
      const picked = mine.find((t) => t.workers === workers);
      return picked
        ? `${runtime}: ${(picked.epochMs.median / best.epochMs.median).toFixed(2)}× the ` +
          `fastest (workers ${best.workers})`
        : `${runtime}: workers ${workers} not measured`;
    });
    lines.push(`- ${s.workload}, ${s.backend}: auto picks ${workers}; ${verdicts.join("; ")}.`);
  }
  if (lines.length === 0) return [];
  return [
    "`--workers auto` (the default) picks its count from the batch's shape alone (see " +
    "`autoWorkers`); its epoch time is that of the count it picks, here as a multiple of the " +
    "fastest measured count's median:",
    "",
    ...lines,
    "",
  ];
}

function numpyLines(r: BenchReport): string[] {
  if (r.numpy.length === 0) return [`Not measured: ${r.numpyMissing ?? "not asked for"}.`];
  const first = r.numpy[0];
  return [
    `The same epoch (forward, backward, update; samples as rows) in NumPy ${first.numpy} with ` +
    `${first.blas}${first.threads !== null ? `, ${first.threads} BLAS threads` : ""}, ` +
    "`scripts/numpy_epoch.py`, on random rows of the workload's shape, in every round of the " +
    "workload right after the runtimes' runs. Beside it, shardnet's epochs/s at workers 0 in the " +
    "same rounds, per runtime and backend, their ratio to NumPy's and, measured in several " +
    `rounds, the ratio's ${INTERVAL_LEVEL * 100} % bootstrap interval over the rounds.`,
    "",
    table(
      ["workload", "dtype", "epoch ms", "GFLOP/s", "epochs/s", "shardnet workers 0"],
      r.numpy.map((n) => [
        n.workload,
        n.dtype,
        spreadText(n.epochMs),
        num(n.gflops),
        num(n.epochsPerSecond),
        n.beside
          .map((s) =>
            `${s.runtime} ${s.backend}: ${num(s.epochsPerSecond)} (${s.ratio.toFixed(2)}×` +
            (s.interval ? `; ${s.interval.low.toFixed(2)}–${s.interval.high.toFixed(2)}×` : "") +
            ")"
          )
          .join("; "),
      ]),
    ),
  ];
}

/** A Markdown table padded into columns, so that it reads as well in a terminal as rendered. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const numeric = head.map((_, i) =>
    rows.length > 0 && rows.every((r) => /^[\d.,–()×% -]+$/.test(r[i]) || r[i] === "")
  );
  const widths = head.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((c, i) => numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])).join(" | ")
    } |`;
  const rule = `| ${
    widths.map((w, i) => numeric[i] ? `${"-".repeat(w - 1)}:` : "-".repeat(w)).join(" | ")
  } |`;
  return [line(head), rule, ...rows.map(line)].join("\n");
}

function speedupText(s: StrongRow): string {
  const i = s.speedupInterval;
  const point = `${s.speedup.toFixed(2)}×`;
  return i === null || s.workers === 0
    ? point
    : `${point} (${i.low.toFixed(2)}–${i.high.toFixed(2)})`;
}

function overheadText(c: ClusterRow): string {
  const i = c.overheadInterval;
  return i === null ? num(c.overheadMs) : `${num(c.overheadMs)} (${num(i.low)}–${num(i.high)})`;
}

function spreadText(s: Spread): string {
  return `${num(s.median)} (${num(s.min)}–${num(s.max)})`;
}

function percent(share: number | null): string {
  return share === null ? "–" : `${Math.round(share * 100)} %`;
}

/** Three significant digits below 100, whole numbers above. */
function num(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return Math.abs(x) >= 100 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3);
}
