import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type { BenchReport } from "./report.ts";

/** A rendered chart: its file name and SVG text. */
export interface Chart {
  readonly file: string;
  readonly svg: string;
}

/** Looks shared by every chart: readable sizes, a white background for dark-mode viewers. */
const CONFIG = {
  background: "white",
  font: "Helvetica, Arial, sans-serif",
  title: { fontSize: 15, anchor: "start", offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridOpacity: 0.5 },
  header: { labelFontSize: 13, labelFontWeight: "bold", title: null },
  legend: {
    labelFontSize: 11,
    titleFontSize: 12,
    orient: "bottom",
    columns: 3,
    symbolStrokeWidth: 2,
  },
  view: { stroke: "#ccc" },
  line: { strokeWidth: 2 },
  point: { size: 45, filled: true },
} as const;

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
  for (const [file, spec] of specs) charts.push({ file, svg: await toSvg(spec) });
  return charts;
}

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
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

function speedupSpec(r: BenchReport): TopLevelSpec {
  const cores = r.machine.logicalCores;
  const workers = [...new Set(r.strong.map((s) => s.workers))].sort((a, b) => a - b);
  const workloads = [...new Set(r.strong.map((s) => s.workload))];
  const ideal = "ideal: N×";
  const ceiling = `ideal on ${cores} cores`;
  const measured = measuredSeries(r);
  const values = [
    ...r.strong.map((s) => ({
      workload: s.workload,
      workers: s.workers,
      speedup: s.speedup,
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
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Strong scaling: speedup over --workers 0",
      subtitle: `median epoch time, full batch, on ${r.machine.cpu} (${cores} logical cores)`,
    },
    data: { values },
    facet: { column: { field: "workload", sort: workloads } },
    spec: {
      width: 260,
      height: 220,
      encoding: {
        x: axisWorkers(workers),
        y: { field: "speedup", type: "quantitative", title: "speedup (×)" },
        ...seriesEncoding(measured, [ideal, ceiling]),
      },
      layer: lines("speedup", ".2f"),
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
