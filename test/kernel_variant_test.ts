import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../src/data/generators.ts";
import { findBlasLibrary } from "../src/kernels/blas.ts";
import { currentRuntime, type RuntimeKind } from "../src/runtime/runtimes.ts";
import { train, type TrainOptions } from "../src/train/train.ts";
import { otherRuntime, runCliOn } from "./run_cli.ts";

/** Each test spawns several trainings; a quiet machine runs one in about a second. */
const SPAWN_TIMEOUT_MS = 120_000;
const blasMissing = findBlasLibrary() === null
  ? "OpenBLAS is not installed (Debian: libopenblas0-pthread)"
  : false;

/** The oracle case (f64, a fixed initial model) and a short default xor run (f32). */
const CASES: [string, string[]][] = [
  [
    "breast cancer oracle case, f64",
    [
      ...["--data", "data/breast_cancer.csv", "--init", "test/oracle/breast_cancer_h8/init.json"],
      ...["--dtype", "f64", "--lr", "0.5", "--epochs", "20"],
    ],
  ],
  ["xor 8192 × 8, h = 32, f32", ["--epochs", "40"]],
];

const dir = mkdtempSync(join(tmpdir(), "shardnet-kernel-variant-"));
let files = 0;

/** Trains with `args` on `runtime` and returns the --out file's text and the JSON done line. */
async function trainOut(
  runtime: RuntimeKind,
  args: string[],
): Promise<{ out: string; done: Record<string, unknown> }> {
  const out = join(dir, `${files++}.json`);
  const r = await runCliOn(runtime, "train", [...args, "--out", out, "--log-format", "json"]);
  assert.equal(r.code, 0, `${runtime} ${args.join(" ")}: ${r.stderr}`);
  const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  return { out: readFileSync(out, "utf8"), done };
}

describe("kernel variant", () => {
  const here = currentRuntime();

  it("reaches every worker: --workers 2 writes the bytes of --workers 0, per variant", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const outs: Record<string, string> = {};
    for (const variant of ["plain", "relaxed"]) {
      const args = [...CASES[1][1], "--backend", "wasm", "--kernel-variant", variant];
      const single = await trainOut(here, [...args, "--workers", "0"]);
      const sharded = await trainOut(here, [...args, "--workers", "2"]);
      assert.equal(sharded.out, single.out, `${variant}: --workers 2 differs from --workers 0`);
      assert.equal(single.done.backend, "wasm");
      assert.equal(single.done.kernel_variant, variant);
      outs[variant] = single.out;
    }
    // The variant must matter for the check above to mean anything: it does where V8 fuses.
    if (here === "deno") assert.notEqual(outs.plain, outs.relaxed);
    else assert.equal(outs.plain, outs.relaxed);
  });

  for (const [name, args] of CASES) {
    it(`plain wasm: ${here} and ${otherRuntime()} write the same --out (${name})`, {
      timeout: SPAWN_TIMEOUT_MS,
    }, async () => {
      const flags = [...args, "--backend", "wasm", "--kernel-variant", "plain", "--workers", "0"];
      const [mine, theirs] = await Promise.all([
        trainOut(here, flags),
        trainOut(otherRuntime(), flags),
      ]);
      assert.equal(theirs.out, mine.out);
    });

    it(`blas: ${here} and ${otherRuntime()} write the same --out by default (${name})`, {
      timeout: SPAWN_TIMEOUT_MS,
      skip: blasMissing,
    }, async () => {
      const flags = [...args, "--backend", "blas", "--workers", "2"];
      const [mine, theirs] = await Promise.all([
        trainOut(here, flags),
        trainOut(otherRuntime(), flags),
      ]);
      assert.equal(mine.done.kernel_variant, "plain");
      assert.equal(theirs.out, mine.out);
    });
  }

  const data = generate("xor", 256, 4, 1);
  const run = (options: Partial<TrainOptions>) => train(data, { epochs: 2, ...options });

  it("train() reports the variant it resolved: relaxed for wasm, none for js", async () => {
    assert.equal((await run({ backend: "wasm" })).kernelVariant, "relaxed");
    assert.equal((await run({ backend: "wasm", kernelVariant: "plain" })).kernelVariant, "plain");
    assert.equal((await run({ backend: "js", kernelVariant: "plain" })).kernelVariant, null);
  });

  it("train() reports the variant it resolved: plain for blas unless asked", {
    skip: blasMissing,
  }, async () => {
    assert.equal((await run({ backend: "blas" })).kernelVariant, "plain");
    const relaxed = await run({ backend: "blas", kernelVariant: "relaxed" });
    assert.equal(relaxed.kernelVariant, "relaxed");
  });
});
