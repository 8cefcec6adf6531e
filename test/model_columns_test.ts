import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCsv } from "../src/data/csv.ts";
import { modelFromJson, modelToJson, readModelFile } from "../src/model/model_file.ts";
import { evaluate } from "../src/model/predict.ts";
import { runCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-columns-"));
const source = readCsv("data/breast_cancer.csv");
const names = [...source.featureNames];
const n = source.features;

/** Writes breast_cancer.csv with the label as B/M, its features in `order`, plus `extra` cells. */
function write(file: string, order: readonly number[], header = true, extra = ""): string {
  const lines = header ? [[...order.map((k) => names[k]), "diagnosis"].join(",") + extra] : [];
  for (let i = 0; i < source.samples; i++) {
    const row = order.map((k) => source.x[i * n + k]);
    lines.push([...row, source.y[i] === 1 ? "M" : "B"].join(",") + (extra ? ",0" : ""));
  }
  const path = join(dir, file);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

const identity = names.map((_, k) => k);
const swapped = [1, 0, ...identity.slice(2)];
let data: string;
let model: string;

describe("a model knows its columns", () => {
  before(async () => {
    data = write("mb.csv", identity);
    model = join(dir, "model.json");
    const r = await runCli("train", [
      ...["--data", data, "--epochs", "30", "--hidden", "8", "--workers", "0", "--out", model],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /mb\.csv: class 1 is "M", class 0 "B" \(the larger label value; choose with --positive-label\)/,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("records feature names, the label column and the label values in the model file", () => {
    const file = JSON.parse(readFileSync(model, "utf8"));
    assert.deepEqual(file.feature_names, names);
    assert.equal(file.label, "diagnosis");
    assert.deepEqual(file.label_values, ["B", "M"]);
    const read = readModelFile(model);
    assert.deepEqual(read.columns, {
      featureNames: names,
      labelName: "diagnosis",
      labelValues: ["B", "M"],
    });
    assert.deepEqual(modelFromJson(modelToJson(read), "again").columns, read.columns);
  });

  it("matches reordered columns by name, with a note, and scores them as the original", async () => {
    const straight = await runCli("evaluate", [
      "--model",
      model,
      "--data",
      data,
      "--log-format",
      "json",
    ]);
    const reordered = await runCli("evaluate", [
      ...["--model", model, "--data", write("swapped.csv", swapped), "--log-format", "json"],
    ]);
    assert.equal(reordered.code, 0, reordered.stderr);
    assert.match(
      reordered.stderr,
      /^note: .*swapped\.csv: its columns are in another order than the model's; matched by name\n$/,
    );
    assert.deepEqual(JSON.parse(reordered.stdout), JSON.parse(straight.stdout));
    assert.ok(JSON.parse(straight.stdout).accuracy > 0.9);
    assert.deepEqual(JSON.parse(straight.stdout).label_values, ["B", "M"]);
  });

  it("names missing and extra columns in one line", async () => {
    const path = write("other.csv", identity.slice(1), true, ",extra");
    for (const command of ["predict", "evaluate"] as const) {
      const r = await runCli(command, ["--model", model, "--data", path]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stderr,
        `${command}: ${path}: the columns do not match the model's features: missing ` +
          `"mean_radius"; extra "extra"\n`,
      );
    }
  });

  it("suggests --label when the only extra column may be a label column of another name", async () => {
    const path = join(dir, "renamed.csv");
    writeFileSync(path, readFileSync(data, "utf8").replace("diagnosis", "outcome"));
    const r = await runCli("evaluate", ["--model", model, "--data", path]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /extra "outcome" \(if "outcome" is the label column, say so with --label\)\n$/,
    );
    const named = await runCli("evaluate", [
      "--model",
      model,
      "--data",
      path,
      "--label",
      "outcome",
    ]);
    assert.equal(named.code, 0, named.stderr);
  });

  it("predicts classes in the label values, at --threshold, with --digits decimals", async () => {
    const r = await runCli("predict", [
      ...["--model", model, "--data", data, "--threshold", "0.9", "--digits", "3"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "probability,class");
    const expected = evaluate(readModelFile(model), readCsv(data)).probabilities;
    lines.slice(1).forEach((line, i) => {
      assert.equal(line, `${expected[i].toFixed(3)},${expected[i] >= 0.9 ? "M" : "B"}`);
    });
    assert.ok(lines.some((l) => l.endsWith(",M")) && lines.some((l) => l.endsWith(",B")));
  });

  it("refuses a --positive-label other than the model's class 1", async () => {
    const r = await runCli("evaluate", ["--model", model, "--data", data, "--positive-label", "B"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `evaluate: --positive-label: the model's class 1 is "M", its class 0 "B"\n`,
    );
  });

  it("takes the other class as class 1 with --positive-label, and refuses three label values", async () => {
    const flipped = join(dir, "flipped.json");
    const r = await runCli("train", [
      ...["--data", data, "--epochs", "2", "--workers", "0", "--positive-label", "B"],
      ...["--out", flipped],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /class 1 is/);
    assert.deepEqual(readModelFile(flipped).columns?.labelValues, ["M", "B"]);
    const three = join(dir, "three.csv");
    writeFileSync(three, readFileSync(data, "utf8").replace(/,B\n/, ",X\n"));
    const bad = await runCli("train", ["--data", three, "--epochs", "2", "--workers", "0"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^train: .*three\.csv:\d+:31: column 30 "diagnosis" has more than two label values \("[BMX]", "[BMX]", "[BMX]"\); a binary classifier needs two\n$/,
    );
  });

  it("refuses --positive-label with a generator", async () => {
    const r = await runCli("train", ["--data", "gen:xor", "--positive-label", "1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--positive-label: only with a CSV file/);
  });

  it("scores by position with a model file written before columns were recorded", async () => {
    const file = JSON.parse(readFileSync(model, "utf8"));
    delete file.feature_names;
    delete file.label;
    delete file.label_values;
    const old = join(dir, "old.json");
    writeFileSync(old, JSON.stringify(file));
    assert.equal(readModelFile(old).columns, undefined);
    const zeroOne = join(dir, "zero_one.csv");
    writeFileSync(
      zeroOne,
      readFileSync(data, "utf8").replaceAll(",M\n", ",1\n").replaceAll(",B\n", ",0\n"),
    );
    const r = await runCli("predict", ["--model", old, "--data", zeroOne]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^probability,class\n0\.\d{6},[01]\n/);
    const narrow = write("narrow.csv", identity.slice(2), false);
    const refused = await runCli("predict", ["--model", model, "--data", narrow]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /narrow\.csv: 29 columns, but the model takes 30 features/);
  });
});
