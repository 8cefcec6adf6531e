import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderCharts, speedupSpec } from "../src/bench/charts.ts";
import type { BenchReport } from "../src/bench/report.ts";
import { BUSY_SHARE } from "../src/bench/run_plan.ts";
import { trainingCurvesSpec, trainingCurvesSvg } from "../src/train/training_curves.ts";
import { TRAINING_CURVES_MARK } from "../src/train/training_curves_mark.ts";
import { runCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-curves-"));
const BC = ["--data", "data/breast_cancer.csv", "--workers", "0", "--epochs", "8"];

/** The data marks of a rendered chart, by kind: lines, rules, symbols. */
function marks(svg: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, kind] of svg.matchAll(/class="mark-(\w+) role-mark[^"]*"/g)) {
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

const history = [1, 2, 3].map((epoch) => ({
  epoch,
  loss: 1 / epoch,
  accuracy: 0.5 + epoch / 10,
  valLoss: 1.1 / epoch,
  valAccuracy: 0.5 + epoch / 12,
  ms: 1,
}));

describe("training curves", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("draws loss and accuracy, training and validation, from the history", async () => {
    const values = (trainingCurvesSpec(history) as { data: { values: unknown[] } }).data.values;
    assert.equal(values.length, 12);
    assert.deepEqual(values[2], { epoch: 1, metric: "loss", split: "validation", value: 1.1 });
    const svg = await trainingCurvesSvg(history);
    assert.ok(svg.startsWith(`${TRAINING_CURVES_MARK}\n<svg `));
    assert.equal(marks(svg).line, 4);
    const trainingOnly = history.map(({ epoch, loss, accuracy, ms }) => ({
      epoch,
      loss,
      accuracy,
      ms,
    }));
    assert.equal(marks(await trainingCurvesSvg(trainingOnly)).line, 2);
  });

  it("train --plot writes the chart and names it in the done line", async () => {
    const plot = join(dir, "curves.svg");
    const r = await runCli("train", [...BC, "--val-split", "0.2", "--plot", plot]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`; curves in ${plot}\\n$`));
    const svg = readFileSync(plot, "utf8");
    assert.ok(svg.startsWith(TRAINING_CURVES_MARK));
    assert.equal(marks(svg).line, 4);
    const again = await runCli("train", [...BC, "--plot", plot, "--log-format", "json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout.trim().split("\n").at(-1)!).plot, plot);
    assert.equal(marks(readFileSync(plot, "utf8")).line, 2);
  });

  it("checks --plot before the first epoch, as an output path", async () => {
    const other = join(dir, "other.svg");
    writeFileSync(other, "<svg/>");
    const cases: [string, RegExp][] = [
      [join(dir, "curves.png"), /^train: --plot: the chart is SVG, so the file name ends in \.svg/],
      [join(dir, "no", "such", "c.svg"), /^train: --plot: no such directory/],
      [other, /^train: --plot: .*other\.svg exists and is not a training-curves chart/],
    ];
    for (const [path, message] of cases) {
      const r = await runCli("train", [...BC, "--plot", path]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, "", "no epoch ran");
    }
    assert.equal(readFileSync(other, "utf8"), "<svg/>");
    assert.ok(!existsSync(join(dir, "curves.png")));
  });
});

describe("bench speedup chart", () => {
  const report = JSON.parse(
    readFileSync("scripts/bench_results/bench.json", "utf8"),
  ) as BenchReport;

  it("keeps the ideal lines within the measured range and draws the intervals", async () => {
    const spec = speedupSpec(report) as unknown as {
      data: { values: { measured: boolean; low?: number; high?: number; busy?: boolean }[] };
      spec: { encoding: { y: { scale: { domain: number[] } } } };
    };
    const top = spec.spec.encoding.y.scale.domain[1];
    const highest = Math.max(
      ...report.strong.map((s) => Math.max(s.speedup, s.speedupInterval?.high ?? 0)),
    );
    assert.ok(top >= highest && top >= report.machine.logicalCores, `top ${top}`);
    assert.ok(top < 8, `an ideal of 8× would squash the measured 0–2× (top ${top})`);
    const measured = spec.data.values.filter((v) => v.measured);
    assert.ok(measured.every((v) => v.low! <= v.high!));
    const busy = report.strong.filter((s) => (s.otherCpuShare ?? 0) > BUSY_SHARE).length;
    assert.ok(busy > 0);
    assert.equal(measured.filter((v) => v.busy).length, busy);
    const svg = (await renderCharts(report)).find((c) => c.file === "speedup.svg")!.svg;
    const counts = marks(svg);
    assert.equal(counts.rule, 3, "one set of interval bars per workload");
    assert.ok(counts.symbol >= 3);
    assert.match(svg, /measured while other processes used more than 10 % of the CPUs/);
  });
});
