import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

/** Looks shared by every chart: readable sizes, a white background for dark-mode viewers. */
export const CHART_CONFIG = {
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
 * A Vega-Lite chart as SVG text: compiled to Vega and rendered headlessly.
 *
 * @example
 * ```ts
 * const svg = await vegaLiteToSvg({ data: { values: [{ x: 1, y: 2 }] }, mark: "point" });
 * ```
 */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
