import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCsv } from "../src/data/csv.ts";
import { readModelFile } from "../src/model/model_file.ts";
import { evaluate } from "../src/model/predict.ts";
import { runCli } from "./run_cli.ts";

const BREAST_CANCER = "data/breast_cancer.csv";
const dir = mkdtempSync(join(tmpdir(), "shardnet-predict-"));
const modelPath = join(dir, "model.json");

describe("predict command", () => {
  before(async () => {
    const r = await runCli("train", [
      ...["--data", BREAST_CANCER, "--epochs", "30", "--hidden", "8", "--workers", "0"],
      ...["--out", modelPath],
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("writes one probability per row and reports loss and accuracy for a labelled CSV", async () => {
    const out = join(dir, "p.csv");
    const r = await runCli("predict", [
      "--model",
      modelPath,
      "--data",
      BREAST_CANCER,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    assert.equal(lines[0], "probability,class");
    assert.equal(lines.length, 570);
    const expected = evaluate(readModelFile(modelPath), readCsv(BREAST_CANCER));
    lines.slice(1).forEach((line, i) => {
      const p = expected.probabilities[i];
      assert.equal(line, `${p.toFixed(6)},${p >= 0.5 ? 1 : 0}`);
    });
    assert.match(
      r.stderr,
      new RegExp(`569 rows: loss ${expected.loss}, accuracy ${expected.accuracy}`),
    );
    assert.ok(expected.accuracy > 0.9);
  });

  it("scores a CSV without labels to stdout", async () => {
    const data = readCsv(BREAST_CANCER);
    const rows = [];
    for (let i = 0; i < 5; i++) {
      rows.push(Array.from(data.x.subarray(i * 30, i * 30 + 30)).join(","));
    }
    const unlabelled = join(dir, "unlabelled.csv");
    writeFileSync(unlabelled, rows.join("\n") + "\n");
    const r = await runCli("predict", ["--model", modelPath, "--data", unlabelled]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 6);
    for (const line of lines.slice(1)) assert.match(line, /^[01]\.\d{6},[01]$/);
    assert.doesNotMatch(r.stderr, /loss/);
  });

  it("refuses a CSV whose width does not fit the model", async () => {
    const narrow = join(dir, "narrow.csv");
    writeFileSync(narrow, "a,b,label\n1,2,0\n3,4,1\n");
    const r = await runCli("predict", ["--model", modelPath, "--data", narrow]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^predict: .*narrow\.csv: the columns do not match the model's features: missing "mean_radius", .* and 25 more; extra "a", "b"\n$/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});
