import type { TopLevelSpec } from "vega-lite";
import { CHART_CONFIG, vegaLiteToSvg } from "../charts/vega_svg.ts";
import type { EpochReport } from "./train.ts";
import { TRAINING_CURVES_MARK } from "./training_curves_mark.ts";

/**
 * The loss and accuracy curves of a run, training and (with a split) validation, against the
 * epoch, as an SVG drawn with Vega-Lite. Training metrics come from the forward passes before
 * each step, validation metrics from after the epoch's last step, as `EpochReport` says.
 *
 * @example
 * ```ts
 * const { history } = await train(data, { epochs: 100, validation });
 * writeFileSync("curves.svg", await trainingCurvesSvg(history));
 * ```
 */
export async function trainingCurvesSvg(history: readonly EpochReport[]): Promise<string> {
  const svg = await vegaLiteToSvg(trainingCurvesSpec(history));
  return `${TRAINING_CURVES_MARK}\n${svg}\n`;
}

/** The Vega-Lite chart `trainingCurvesSvg` draws. */
export function trainingCurvesSpec(history: readonly EpochReport[]): TopLevelSpec {
  const values = history.flatMap((r) => [
    { epoch: r.epoch, metric: "loss", split: "training", value: r.loss },
    { epoch: r.epoch, metric: "accuracy", split: "training", value: r.accuracy },
    ...(r.valLoss !== undefined
      ? [
        { epoch: r.epoch, metric: "loss", split: "validation", value: r.valLoss },
        { epoch: r.epoch, metric: "accuracy", split: "validation", value: r.valAccuracy! },
      ]
      : []),
  ]);
  const first = history[0]?.epoch ?? 1;
  const last = history.at(-1)?.epoch ?? 1;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Training curves",
      subtitle: "training: the forward passes before each step; validation: after the epoch's " +
        "last step",
    },
    data: { values },
    facet: { row: { field: "metric", type: "nominal", sort: ["loss", "accuracy"], title: null } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 480,
      height: 200,
      mark: { type: "line", point: history.length <= 40 },
      encoding: {
        x: {
          field: "epoch",
          type: "quantitative",
          title: "epoch",
          scale: { domain: [first, Math.max(last, first + 1)], nice: false },
        },
        y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
        color: {
          field: "split",
          type: "nominal",
          title: null,
          scale: { domain: ["training", "validation"], range: ["#4c78a8", "#f58518"] },
        },
        tooltip: [{ field: "split" }, { field: "epoch" }, { field: "value", format: ".6f" }],
      },
    },
    config: CHART_CONFIG,
  } as TopLevelSpec;
}
