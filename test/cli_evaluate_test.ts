import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCsv } from "../src/data/csv.ts";
import { fitStandardization } from "../src/data/standardize.ts";
import { modelFromJson, writeModelFile } from "../src/model/model_file.ts";
import { evaluate } from "../src/model/predict.ts";
import { runCli } from "./run_cli.ts";

const BREAST_CANCER = "data/breast_cancer.csv";
const dir = mkdtempSync(join(tmpdir(), "shardnet-evaluate-"));
const data = readCsv(BREAST_CANCER);
const initPath = "test/oracle/breast_cancer_h8/init.json";
const model = {
  ...modelFromJson(readFileSync(initPath, "utf8"), initPath),
  standardization: fitStandardization(data),
};
const modelPath = join(dir, "model.json");
writeModelFile(modelPath, model);
const expected = evaluate(model, data);

/** The breast cancer rows as CSV lines: the header, then rows i with keep(i). */
function csvRows(keep: (i: number) => boolean, labelFirst = false): string {
  const lines = readFileSync(BREAST_CANCER, "utf8").trim().split(/\r?\n/);
  const move = (line: string) => {
    if (!labelFirst) return line;
    const cells = line.split(",");
    return [cells.at(-1), ...cells.slice(0, -1)].join(",");
  };
  return [move(lines[0]), ...lines.slice(1).filter((_, i) => keep(i)).map(move)].join("\n") +
    "\n";
}

/** ROC AUC by its definition, over all (label 1, label 0) pairs, ties ½. */
function pairwiseAuc(p: Float64Array, y: Float64Array): number {
  let sum = 0, pairs = 0;
  for (let i = 0; i < p.length; i++) {
    for (let j = 0; j < p.length; j++) {
      if (y[i] !== 1 || y[j] !== 0) continue;
      pairs++;
      sum += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

describe("evaluate command", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prints loss, accuracy, precision, recall, F1, ROC AUC and the confusion matrix as JSON", async () => {
    const r = await runCli("evaluate", [
      ...["--model", modelPath, "--data", BREAST_CANCER, "--log-format", "json"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const report = JSON.parse(lines[0]);
    assert.equal(report.event, "evaluate");
    assert.equal(report.rows, 569);
    assert.equal(report.loss, expected.loss);
    assert.equal(report.accuracy, expected.accuracy);
    const { tp, fp, tn, fn } = report.confusion;
    assert.equal(tp + fp + tn + fn, 569);
    assert.equal(tp + fn, data.y.reduce((a, b) => a + b, 0));
    assert.equal((tp + tn) / 569, expected.accuracy);
    assert.equal(report.precision, tp / (tp + fp));
    assert.equal(report.recall, tp / (tp + fn));
    assert.equal(report.f1, 2 * tp / (2 * tp + fp + fn));
    assert.equal(report.roc_auc, pairwiseAuc(expected.probabilities, data.y));
    assert.deepEqual(report.undefined_because, {});
  });

  it("prints the same as a table in text", async () => {
    const r = await runCli("evaluate", ["--model", modelPath, "--data", BREAST_CANCER]);
    assert.equal(r.code, 0, r.stderr);
    const json = await runCli("evaluate", [
      ...["--model", modelPath, "--data", BREAST_CANCER, "--log-format", "json"],
    ]);
    const report = JSON.parse(json.stdout);
    const { tp, fp, tn, fn } = report.confusion;
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(
      lines[0],
      `569 rows, ${tp + fn} of class 1 (label "1"), ${tn + fp} of class 0 (label "0")`,
    );
    assert.equal(lines[1], `loss       ${report.loss.toFixed(6)}`);
    assert.equal(lines[6], `roc_auc    ${report.roc_auc.toFixed(6)}`);
    assert.match(lines[9], new RegExp(`^label 0 +${tn} +${fp}$`));
    assert.match(lines[10], new RegExp(`^label 1 +${fn} +${tp}$`));
  });

  it("says why ROC AUC is undefined for rows of one class, and takes --label by name", async () => {
    const onlyPositives = join(dir, "positives.csv");
    writeFileSync(onlyPositives, csvRows((i) => data.y[i] === 1, true));
    const args = ["--model", modelPath, "--data", onlyPositives, "--label", "label"];
    const json = await runCli("evaluate", [...args, "--log-format", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.roc_auc, null);
    assert.deepEqual(report.undefined_because, {
      roc_auc: "only label 1 among the rows: ROC AUC needs both classes",
    });
    assert.equal(report.confusion.fp + report.confusion.tn, 0);
    const text = await runCli("evaluate", args);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(
      text.stdout.includes(
        "\nroc_auc    undefined: only label 1 among the rows: ROC AUC needs both classes\n",
      ),
      text.stdout,
    );
    assert.doesNotMatch(text.stdout, /NaN/);
  });

  it("refuses rows without a label column in one line, status 1", async () => {
    const unlabelled = join(dir, "unlabelled.csv");
    writeFileSync(
      unlabelled,
      csvRows(() => true).split("\n").map((l) => l.split(",").slice(0, -1).join(",")).join("\n"),
    );
    const r = await runCli("evaluate", ["--model", modelPath, "--data", unlabelled]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^evaluate: .*unlabelled\.csv: 30 columns, the model's features, and no label column/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });

  for (
    const [args, message] of [
      [["--data", BREAST_CANCER], /^evaluate: --model: a model file is required$/],
      [["--model", "model.json"], /^evaluate: --data: a CSV file is required$/],
      [
        ["--model", "no/such.json", "--data", BREAST_CANCER],
        /^evaluate: --model: cannot read model file: no\/such\.json$/,
      ],
      [
        ["--model", "m.json", "--data", BREAST_CANCER, "--log-format", "xml"],
        /^evaluate: --log-format: expected one of text, json, got "xml"$/,
      ],
    ] as [string[], RegExp][]
  ) {
    it(`usage error, status 2: ${args.join(" ")}`, async () => {
      const r = await runCli("evaluate", args);
      assert.equal(r.code, 2);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    });
  }
});
