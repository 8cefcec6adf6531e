import type { TopLevelSpec } from "vega-lite";
import { CHART_CONFIG as CONFIG, vegaLiteToSvg } from "../charts/vega_svg.ts";
import type { BenchReport } from "./report.ts";
import { BUSY_SHARE } from "./run_plan.ts";
import { INTERVAL_LEVEL } from "./speedup_interval.ts";

/** A rendered chart: its file name and SVG text. */
export interface Chart {
  readonly file: string;
  readonly svg: string;
}

/**
 * The report's charts as SVG, drawn with Vega-Lite (compiled to Vega and rendered headlessly):
 * speedup against workers with the ideal lines, the per-step phase breakdown, weak scaling and
 * peak memory.
 *
 * @example
 * ```ts
 * for (const chart of await renderCharts(report)) writeFileSync(join(dir, chart.file), chart.svg);
 * ```
 */
export async function renderCharts(report: BenchReport): Promise<Chart[]> {
  const specs: [string, TopLevelSpec][] = [
    ["speedup.svg", speedupSpec(report)],
    ["phases.svg", phasesSpec(report)],
    ["weak_scaling.svg", weakSpec(report)],
    ["memory.svg", memorySpec(report)],
  ];
  const charts: Chart[] = [];
  for (const [file, spec] of specs) charts.push({ file, svg: await vegaLiteToSvg(spec) });
  return charts;
}

function series(runtime: string, backend: string): string {
  return `${runtime} · ${backend}`;
}

/** Every measured series in the order of the report, so that each keeps its colour in every chart. */
function measuredSeries(r: BenchReport): string[] {
  return [...new Set([...r.strong, ...r.weak].map((s) => series(s.runtime, s.backend)))];
}

/**
 * Colour and dash by series: the measured series in colours and solid, the reference lines in
 * greys and dashed; both channels share one legend, which then shows each line as drawn.
 */
function seriesEncoding(measured: readonly string[], references: readonly string[]) {
  const palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2", "#72b7b2"];
  const greys = ["#555", "#999"];
  const dashes = [[6, 4], [2, 3]];
  const domain = [...measured, ...references];
  const legend = { symbolType: "stroke", symbolSize: 300, symbolStrokeWidth: 2 };
  return {
    color: {
      field: "series",
      type: "nominal",
      title: null,
      legend,
      scale: {
        domain,
        range: [
          ...measured.map((_, i) => palette[i % palette.length]),
          ...references.map((_, i) => greys[i]),
        ],
      },
    },
    strokeDash: {
      field: "series",
      type: "nominal",
      title: null,
      legend,
      scale: {
        domain,
        range: [...measured.map(() => [1, 0]), ...references.map((_, i) => dashes[i])],
      },
    },
  };
}

/**
 * Speedup against workers: the measured medians with their bootstrap intervals, the ideal lines
 * clipped to the measured range (so that 0–2× on 2 cores stays readable beside an ideal of 16×),
 * and a cross on figures measured while other processes took more than `BUSY_SHARE` of the CPUs.
 */
export function speedupSpec(r: BenchReport): TopLevelSpec {
  const cores = r.machine.logicalCores;
  const workers = [...new Set(r.strong.map((s) => s.workers))].sort((a, b) => a - b);
  const workloads = [...new Set(r.strong.map((s) => s.workload))];
  const ideal = "ideal: N×";
  const ceiling = `ideal on ${cores} cores`;
  const measured = measuredSeries(r);
  const highest = Math.max(
    cores,
    ...r.strong.map((s) => Math.max(s.speedup, s.speedupInterval?.high ?? 0)),
  );
  const top = Math.ceil(highest * 1.1 * 10) / 10;
  const values = [
    ...r.strong.map((s) => ({
      workload: s.workload,
      workers: s.workers,
      speedup: s.speedup,
      low: s.speedupInterval?.low ?? s.speedup,
      high: s.speedupInterval?.high ?? s.speedup,
      busy: s.otherCpuShare !== null && s.otherCpuShare > BUSY_SHARE,
      others: s.otherCpuShare,
      series: series(s.runtime, s.backend),
      measured: true,
    })),
    ...workloads.flatMap((workload) =>
      workers.flatMap((w) => [
        { workload, workers: w, speedup: Math.max(1, w), series: ideal, measured: false },
        {
          workload,
          workers: w,
          speedup: Math.min(Math.max(1, w), cores),
          series: ceiling,
          measured: false,
        },
      ])
    ),
  ];
  const level = Math.round(INTERVAL_LEVEL * 100);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Strong scaling: speedup over --workers 0",
      subtitle: [
        `median epoch time, full batch, on ${r.machine.cpu} (${cores} logical cores)`,
        `bars: ${level} % bootstrap intervals over the rounds; ✕: measured while other ` +
        `processes used more than ${BUSY_SHARE * 100} % of the CPUs`,
      ],
    },
    data: { values },
    facet: { column: { field: "workload", sort: workloads } },
    spec: {
      width: 260,
      height: 220,
      encoding: {
        x: axisWorkers(workers),
        y: {
          field: "speedup",
          type: "quantitative",
          title: "speedup (×)",
          scale: { domain: [0, top], nice: false },
        },
        ...seriesEncoding(measured, [ideal, ceiling]),
      },
      layer: [
        { transform: [{ filter: "!datum.measured" }], mark: { type: "line", clip: true } },
        {
          transform: [{ filter: "datum.measured" }],
          mark: { type: "rule", strokeWidth: 1.5, opacity: 0.7 },
          encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } },
        },
        ...lines("speedup", ".2f").slice(1),
        {
          transform: [{ filter: "datum.measured && datum.busy" }],
          mark: { type: "point", shape: "cross", size: 110, color: "black", filled: true },
          encoding: {
            color: { value: "black" },
            strokeDash: { value: [1, 0] },
            tooltip: [
              { field: "series" },
              { field: "workers" },
              { field: "others", title: "other processes' CPU share", format: ".0%" },
            ],
          },
        },
      ],
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** The x axis of every chart: worker threads, ticks at the counts measured. */
function axisWorkers(workers: readonly number[]) {
  return {
    field: "workers",
    type: "quantitative",
    title: "worker threads",
    axis: { values: workers },
  };
}

/** Reference lines plain, measured lines with a point at each measurement and a tooltip. */
function lines(field: string, format: string) {
  return [
    { transform: [{ filter: "!datum.measured" }], mark: "line" },
    {
      transform: [{ filter: "datum.measured" }],
      mark: { type: "line", point: true },
      encoding: {
        tooltip: [{ field: "series" }, { field: "workers" }, { field, format }],
      },
    },
  ];
}

const PHASES = ["compute", "barrier wait", "reduce+update", "coordination"];

function phasesSpec(r: BenchReport): TopLevelSpec {
  const workloads = [...new Set(r.phases.map((p) => p.workload))];
  const values = r.phases.flatMap((p) =>
    [p.computeMs, p.barrierMs, p.reduceMs, Math.max(0, p.coordinationMs)].map((ms, i) => ({
      workload: p.workload,
      series: series(p.runtime, p.backend),
      workers: p.workers,
      phase: PHASES[i],
      order: i,
      ms,
    }))
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Where a training step's time goes",
      subtitle: "milliseconds per step from the trainer's timers, mean over computing threads",
    },
    data: { values },
    facet: {
      row: { field: "series", type: "nominal" },
      column: { field: "workload", sort: workloads },
    },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 220,
      height: 160,
      mark: "bar",
      encoding: {
        x: { field: "workers", type: "ordinal", title: "worker threads", axis: { labelAngle: 0 } },
        y: { field: "ms", type: "quantitative", aggregate: "sum", title: "ms per step" },
        color: {
          field: "phase",
          type: "nominal",
          title: null,
          sort: PHASES,
          scale: { domain: PHASES, range: ["#4c78a8", "#e45756", "#f58518", "#bab0ac"] },
          legend: { columns: PHASES.length },
        },
        order: { field: "order", type: "quantitative" },
        tooltip: [{ field: "phase" }, { field: "workers" }, { field: "ms", format: ".3f" }],
      },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

function weakSpec(r: BenchReport): TopLevelSpec {
  const cores = r.machine.logicalCores;
  const workers = [...new Set(r.weak.map((w) => w.workers))].sort((a, b) => a - b);
  const ceiling = `ideal on ${cores} cores`;
  const measured = measuredSeries(r);
  const values = [
    ...r.weak.map((w) => ({
      workers: w.workers,
      efficiency: w.efficiency,
      series: series(w.runtime, w.backend),
      measured: true,
    })),
    ...workers.map((w) => ({
      workers: w,
      efficiency: Math.min(1, cores / Math.max(1, w)),
      series: ceiling,
      measured: false,
    })),
  ];
  const perWorker = r.weak.find((w) => w.workers === 1)?.samples ?? r.weak[0]?.samples;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Weak scaling: rows grow with the workers",
      subtitle: `${perWorker} rows per worker; efficiency = epoch time at workers 0 / epoch time`,
    },
    data: { values },
    width: 360,
    height: 240,
    encoding: {
      x: axisWorkers(workers),
      y: {
        field: "efficiency",
        type: "quantitative",
        title: "efficiency",
        scale: { zero: true },
      },
      ...seriesEncoding(measured, [ceiling]),
    },
    layer: lines("efficiency", ".2f"),
    config: CONFIG,
  } as TopLevelSpec;
}

function memorySpec(r: BenchReport): TopLevelSpec {
  const workers = [...new Set(r.strong.map((s) => s.workers))].sort((a, b) => a - b);
  const workloads = [...new Set(r.strong.map((s) => s.workload))];
  const values = r.strong.filter((s) => s.peakRssBytes !== null).map((s) => ({
    workload: s.workload,
    workers: s.workers,
    mib: s.peakRssBytes! / 2 ** 20,
    series: series(s.runtime, s.backend),
    measured: true,
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Peak memory (RSS) by worker count",
      subtitle: "whole process, all threads; the data set is shared, not copied per worker",
    },
    data: { values },
    facet: { column: { field: "workload", sort: workloads } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 260,
      height: 200,
      encoding: {
        x: axisWorkers(workers),
        y: { field: "mib", type: "quantitative", title: "peak RSS (MiB)", scale: { zero: true } },
        ...seriesEncoding(measuredSeries(r), []),
      },
      layer: lines("mib", ".0f"),
    },
    config: CONFIG,
  } as TopLevelSpec;
}
