import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./run_cli.ts";

const BC = ["--data", "data/breast_cancer.csv", "--epochs", "1"];

/** Each case: flags, and what the one line on stderr must say. */
const USAGE_ERRORS: [string[], RegExp][] = [
  [["--frobnicate"], /--frobnicate: unknown flag \(see --help\)$/],
  [["--epoch", "5"], /--epoch: unknown flag \(did you mean --epochs\? see --help\)$/],
  [["--batchsize", "5"], /--batchsize: unknown flag \(did you mean --batch-size\? see --help\)$/],
  [
    ["--data", "spiral"],
    /--data: no such file or generator: spiral \(did you mean gen:spirals\?\)$/,
  ],
  [
    ["--data", "gen:spiral"],
    /--data: no generator "spiral" \(did you mean gen:spirals\?\); the generators/,
  ],
  [["--dtype", "f46"], /--dtype: expected one of f32, f64, got "f46" \(did you mean f64\?\)$/],
  [["--workers", "-1"], /--workers: expected auto or an integer ≥ 0 and ≤ 256, got -1/],
  [["--workers", "two"], /--workers: expected auto or an integer ≥ 0 and ≤ 256, got "two"/],
  [["--lr", "0"], /--lr: expected a number > 0, got 0/],
  [["--lr", "NaN"], /--lr: expected a number > 0, got "NaN"/],
  [["--hidden", "0"], /--hidden: expected an integer ≥ 1, got 0/],
  [["--hidden", "2.5"], /--hidden: expected an integer ≥ 1, got "2.5"/],
  [["--epochs"], /--epochs: a value is required/],
  [[...BC, "--batch-size", "0"], /--batch-size: expected an integer ≥ 1, got 0/],
  [
    [...BC, "--batch-size", "570"],
    /--batch-size: expected an integer from 1 to the 569 training rows/,
  ],
  [["--lr", "Infinity"], /--lr: expected a number > 0, got "Infinity"/],
  [["--val-split", "1"], /--val-split: expected a number ≥ 0 and < 1, got 1/],
  [["--val-split", "-0.1"], /--val-split: expected a number ≥ 0 and < 1, got -0.1/],
  [
    ["--samples", "10", "--val-split", "0.95"],
    /`--val-split` 0.95 of 10 samples leaves none for training$/,
  ],
  [["--checkpoint-every", "0"], /--checkpoint-every: expected an integer ≥ 1, got 0/],
  [[...BC, "--checkpoint-every", "2"], /--checkpoint-every: only with --checkpoint FILE/],
  [
    [...BC, "--checkpoint", "no/such/dir/run.ckpt"],
    /--checkpoint: no such directory: no\/such\/dir$/,
  ],
  [[...BC, "--resume", "no/such.ckpt"], /--resume: cannot read checkpoint file: no\/such\.ckpt$/],
  [["--dtype", "f16"], /--dtype: expected one of f32, f64, got "f16"/],
  [["--log-format", "xml"], /--log-format: expected one of text, json/],
  [
    ["--kernel-variant", "fma"],
    /--kernel-variant: expected one of auto, relaxed, plain, got "fma"/,
  ],
  [["--data", "no/such.csv"], /--data: no such file: no\/such\.csv/],
  [[...BC, "--init", "no/such.json"], /--init: cannot read model file: no\/such\.json/],
  [[...BC, "--label", "nope"], /--label: no column "nope"/],
  [["stray"], /unexpected argument "stray"/],
];

describe("train usage errors", () => {
  for (const [args, message] of USAGE_ERRORS) {
    it(`${args.join(" ")} exits 2 with one line`, async () => {
      const r = await runCli("train", args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^train: /);
      assert.match(lines[0], message);
    });
  }

  it("--help lists every flag with its default and exits 0", async () => {
    const r = await runCli("train", ["--help"]);
    assert.equal(r.code, 0);
    for (
      const flag of ["--data", "--label", "--hidden", "--epochs", "--lr", "--seed", "--batch-size"]
    ) {
      assert.match(r.stdout, new RegExp(`^  ${flag} `, "m"));
    }
    assert.match(r.stdout, /--workers W .*\[default: auto\]/);
  });

  it("a malformed CSV exits 1 naming file, line and column", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "shardnet-usage-")), "bad.csv");
    writeFileSync(path, "a,b,label\n1,2,0\n3,x,1\n");
    const r = await runCli("train", ["--data", path]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal(r.stderr, `train: ${path}:3:2: "x" is not a number\n`);
  });
});
