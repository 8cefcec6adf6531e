import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { readCsv } from "../src/data/csv.ts";
import { readModelFile } from "../src/model/model_file.ts";
import { evaluate } from "../src/model/predict.ts";
import { Rng } from "../src/rng.ts";
import { train } from "../src/train/train.ts";
import { runCli, type RunningCli, startCli } from "./run_cli.ts";

const BREAST_CANCER = "data/breast_cancer.csv";
const TINY = [
  ...["--data", BREAST_CANCER, "--epochs", "20", "--lr", "0.1,1", "--hidden", "2,4"],
  ...["--folds", "3", "--workers", "2", "--dtype", "f64"],
];

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split("\n").map((line) => JSON.parse(line));
}

/** Sends a running sweep SIGINT; its exit, and how long it took to stop, which must be seconds. */
async function interrupt(running: RunningCli) {
  const signalled = performance.now();
  // Not child.kill: Deno's child_process then reports the signal instead of the exit status.
  process.kill(running.child.pid!, "SIGINT");
  const r = await running.done;
  const stopMs = performance.now() - signalled;
  assert.ok(stopMs < 10_000, `took ${stopMs} ms to stop`);
  return r;
}

describe("sweep command", () => {
  const root = mkdtempSync(join(tmpdir(), "sweep-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const newDir = (name: string) => mkdtempSync(join(root, `${name}-`));

  it("ranks a tiny grid, logs JSON lines, writes the results and the best model", async () => {
    const out = join(newDir("results"), "created");
    const r = await runCli("sweep", [...TINY, "--log-format", "json", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    const runs = lines.filter((l) => l.event === "run");
    const configs = lines.filter((l) => l.event === "config");
    assert.equal(runs.length, 12);
    assert.equal(configs.length, 4);
    const done = lines.at(-1)!;
    assert.equal(done.event, "done");
    assert.equal(done.complete, true);
    const best = done.best as Record<string, number>;
    assert.equal(best.val_loss_mean, Math.min(...configs.map((c) => c.val_loss_mean as number)));

    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    assert.equal(results.complete, true);
    assert.deepEqual(results.evaluation, { folds: 3, split_seed: 1 });
    assert.equal(results.runs.length, 12);
    assert.deepEqual(results.configs.map((c: { rank: number }) => c.rank), [1, 2, 3, 4]);
    const csv = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, 5);
    assert.match(csv[0], /^rank,config,lr,hidden,batch_size,seed,runs,splits,val_loss_mean,/);
    assert.equal(readFileSync(join(out, "runs.csv"), "utf8").trim().split("\n").length, 13);

    // The best configuration, retrained on all rows, is the model train() makes of them.
    const data = readCsv(BREAST_CANCER);
    const model = readModelFile(join(out, "best_model.json"));
    const alone = await train(data, {
      epochs: 20,
      dtype: "f64",
      learningRate: best.lr,
      hidden: best.hidden,
      seed: 1,
    });
    assert.deepEqual(model.params, alone.model.params);
    assert.ok(evaluate(model, data).accuracy > 0.9);
  });

  it("prints a ranked table in text mode, and a line per configuration when piped", async () => {
    const r = await runCli("sweep", TINY);
    assert.equal(r.code, 0, r.stderr);
    const table = r.stdout.trim().split("\n");
    assert.match(
      table[0],
      /^rank +lr +hidden +batch-size +seed +val loss ± sd +val acc +val AUC +runs$/,
    );
    assert.equal(table.length, 6);
    assert.match(
      table[1],
      /^ +1 +[\d.]+ +\d+ +all +1 +\d\.\d{4} ± \d\.\d{4} +0\.9\d+ +0\.9\d+ +3\/3$/,
    );
    assert.match(table[5], /^done: 12 runs, 4 of 4 configurations complete, .*; best: --lr /);
    assert.equal(r.stderr.match(/^\[\d+\/12 runs \d:\d\d\] --lr .*: val loss /gm)?.length, 4);
  });

  it("rejects bad lists, bad validation and too large grids with one line and status 2", async () => {
    const cases: [string[], RegExp][] = [
      [["--lr", "0.1,,0.5"], /^sweep: --lr: an empty value in the list "0\.1,,0\.5"\n$/],
      [["--hidden", "4,x"], /^sweep: --hidden: expected an integer ≥ 1, got "x"\n$/],
      [["--seed", "1,2,1"], /^sweep: --seed: 1 is listed twice in "1,2,1"\n$/],
      [["--batch-size", "10,9999"], /^sweep: --batch-size: expected an integer from 1 to the /],
      [["--folds", "1"], /^sweep: --folds: expected an integer ≥ 2, got 1\n$/],
      [["--folds", "213"], /^sweep: --folds: expected at most 212, the rows of the smaller class/],
      [["--folds", "3", "--val-split", "0.2"], /^sweep: --folds and --val-split both choose/],
      [
        ["--lr", "1,2,3", "--hidden", "1,2", "--max-runs", "29"],
        /^sweep: --max-runs: the grid has 6 configurations × 5 folds = 30 runs, more than 29 /,
      ],
      [["--checkpoint", "x"], /^sweep: --checkpoint: unknown flag/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli("sweep", ["--data", BREAST_CANCER, "--epochs", "2", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
  });

  it("writes over no file in --out that it did not write", async () => {
    const out = newDir("taken");
    writeFileSync(join(out, "runs.csv"), "mine\n");
    const r = await runCli("sweep", [...TINY, "--out", out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^sweep: --out: .*runs\.csv exists; a sweep writes only new files/);
    assert.equal(readFileSync(join(out, "runs.csv"), "utf8"), "mine\n");
    assert.ok(!existsSync(join(out, "results.json")));
  });

  it("stops on SIGINT within seconds, with status 130, and writes the finished runs", async () => {
    const out = newDir("partial");
    const running = startCli("sweep", [
      ...["--data", BREAST_CANCER, "--epochs", "300", "--lr", "0.1,0.2,0.3,0.4,0.5"],
      ...["--hidden", "8,16,32", "--seed", "1,2,3", "--workers", "2", "--log-format", "json"],
      ...["--out", out],
    ]);
    const deadline = performance.now() + 60_000;
    while (!running.stdout().includes('"event":"run"') && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const r = await interrupt(running);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /note: stopped by signal after \d+ of 225 runs; .* holds the finished/);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    assert.equal(results.complete, false);
    const logged = jsonLines(r.stdout).filter((l) => l.event === "run");
    assert.ok(logged.length >= 1 && logged.length < 225);
    assert.equal(results.runs.length, logged.length);
    assert.ok(!existsSync(join(out, "best_model.json")));
  });

  it("stops runs in flight at their epoch's end on SIGINT, however long, and exits 130", async () => {
    const out = newDir("long");
    // Runs of minutes: the signal finds both threads inside one, in their kernels.
    const running = startCli("sweep", [
      ...["--data", BREAST_CANCER, "--epochs", "1000000", "--lr", "0.1,0.2"],
      ...["--hidden", "16", "--seed", "1,2", "--workers", "2", "--log-format", "json"],
      ...["--out", out],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const r = await interrupt(running);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /note: stopped by signal after 0 of 20 runs/);
    assert.equal(JSON.parse(readFileSync(join(out, "results.json"), "utf8")).runs.length, 0);
  });

  it("names --lr, not the library's option, where a run diverged: JSON lines, text and --out", async () => {
    // Unscaled features of 1e60: a rate of 1 overflows the loss a few epochs in, 1e-300 does not.
    const rng = new Rng(3);
    const lines = ["a,b,c,label"];
    for (let i = 0; i < 200; i++) {
      const [a, b, c] = [0, 1, 2].map(() => (2 * rng.uniform() - 1) * 1e60);
      lines.push(`${a},${b},${c},${a + b > 0 ? 1 : 0}`);
    }
    const data = join(newDir("huge"), "huge.csv");
    writeFileSync(data, lines.join("\n") + "\n");
    const args = ["--data", data, "--standardize", "none", "--dtype", "f64", "--epochs", "10"];
    args.push("--lr", "1e-300,1", "--folds", "2");
    const advice = /^training diverged at epoch \d+: .*\(try a smaller --lr\)$/;

    // Threads post each run's outcome; --workers 0 runs them in the main thread.
    const out = join(newDir("diverged"), "created");
    const json = await runCli("sweep", [
      ...args,
      "--workers",
      "2",
      "--log-format",
      "json",
      "--out",
      out,
    ]);
    assert.equal(json.code, 0, json.stderr);
    const logged = jsonLines(json.stdout).filter((l) => l.diverged !== undefined);
    assert.deepEqual(logged.map((l) => l.event), ["run", "run", "config"], json.stdout);
    for (const l of logged) assert.match(l.diverged as string, advice);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    const written = [...results.configs, ...results.runs].filter((r) => r.diverged !== null);
    assert.equal(written.length, 3, JSON.stringify(results));
    for (const r of written) assert.match(r.diverged, advice);

    const text = await runCli("sweep", [...args, "--workers", "0"]);
    assert.equal(text.code, 0, text.stderr);
    const line = text.stderr.split("\n").find((l) => l.includes("diverged ("));
    assert.match(
      line ?? text.stderr,
      /^\[4\/4 runs [\d:]+\] --lr 1 .*: diverged \(training diverged /,
    );
    assert.match(line!, /\(try a smaller --lr\)\)$/);
    assert.doesNotMatch(json.stdout + text.stderr + JSON.stringify(results), /learningRate/);
  });
});
