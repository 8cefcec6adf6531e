import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { Rng } from "../src/rng.ts";
import { runCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-divergence-"));

/** 200 rows of three features of magnitude up to `scale`, the label the sign of a + b. */
function hugeCsv(name: string, scale: number): string {
  const rng = new Rng(3);
  const lines = ["a,b,c,label"];
  // Two chunks of 600 rows, so that both workers compute.
  for (let i = 0; i < 1200; i++) {
    const [a, b, c] = [0, 1, 2].map(() => (2 * rng.uniform() - 1) * scale);
    lines.push(`${a},${b},${c},${a + b > 0 ? 1 : 0}`);
  }
  const path = join(dir, name);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

function epochLines(stdout: string): number {
  return stdout.split("\n").filter((line) => line.startsWith('{"event":"epoch"')).length;
}

describe("a diverging run", () => {
  // Unscaled features of 1e60 make every update overshoot by orders of magnitude, until the
  // loss overflows a few epochs in.
  const data = [
    "--dtype",
    "f64",
    "--standardize",
    "none",
    "--workers",
    "2",
    "--log-format",
    "json",
  ];

  for (const every of [["--checkpoint-every", "1"], []]) {
    const policy = every.length ? "every epoch" : "by time";
    it(`stops with one line naming the epoch and --lr, keeps the last good checkpoint (${policy})`, async () => {
      const out = join(dir, `model-${every.length}.json`);
      const checkpoint = join(dir, `run-${every.length}.ckpt`);
      const r = await runCli("train", [
        ...["--data", hugeCsv("huge.csv", 1e60), ...data, "--epochs", "50", "--out", out],
        ...["--checkpoint", checkpoint, ...every],
      ]);
      assert.equal(r.code, 1, r.stderr);
      const match = new RegExp(
        `^train: training diverged at epoch (\\d+): the loss is (NaN|Infinity); the learning rate ` +
          `0\\.5 is probably too large \\(try a smaller --lr\\); ${checkpoint} holds epoch (\\d+)\\n$`,
      ).exec(r.stderr);
      assert.ok(match, r.stderr);
      const diverged = Number(match[1]);
      assert.ok(diverged > 1, `diverged at epoch ${diverged}`);
      assert.equal(Number(match[3]), diverged - 1);
      assert.equal(epochLines(r.stdout), diverged - 1);
      assert.ok(!existsSync(out), "the model file was written");
      const saved = readCheckpoint(checkpoint); // which also checks every parameter is finite
      assert.equal(saved.epoch, diverged - 1);
      assert.ok(saved.params.every(Number.isFinite));
    });
  }

  it("whose last update overflows the parameters writes no model file", async () => {
    // The loss of epoch 1 is finite (about 1e300), but its update, ×1e10, is not.
    const out = join(dir, "overflow.json");
    const r = await runCli("train", [
      ...["--data", hugeCsv("e300.csv", 1e300), ...data, "--lr", "1e10", "--epochs", "1"],
      ...["--out", out],
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      "train: training diverged at epoch 1: the update made parameters non-finite; the learning " +
        "rate 10000000000 is probably too large (try a smaller --lr)\n",
    );
    assert.ok(!existsSync(out));
  });
});
