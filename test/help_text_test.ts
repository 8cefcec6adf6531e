import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BENCH_FLAGS } from "../src/cli/bench_command.ts";
import { CLUSTER_FLAGS } from "../src/cli/cluster_command.ts";
import { COMPARE_FLAGS } from "../src/cli/compare_command.ts";
import { EVALUATE_FLAGS } from "../src/cli/evaluate_command.ts";
import { type FlagSpec, helpText, parseFlags } from "../src/cli/flags.ts";
import { PREDICT_FLAGS } from "../src/cli/predict_command.ts";
import { TRAIN_FLAGS } from "../src/cli/train_command.ts";
import { didYouMean } from "../src/did_you_mean.ts";
import { UsageError } from "../src/errors.ts";
import { runCli } from "./run_cli.ts";

const COMMANDS: [string, readonly FlagSpec[]][] = [
  ["train", TRAIN_FLAGS],
  ["predict", PREDICT_FLAGS],
  ["evaluate", EVALUATE_FLAGS],
  ["compare", COMPARE_FLAGS],
  ["bench", BENCH_FLAGS],
];

/** Placeholders that several flags of one command share because they name the same thing. */
const SHARED = new Set(["MODEL", "CKPT", "SEC"]);

describe("flags read alike across commands", () => {
  it("gives each kind of value its own placeholder within a command", () => {
    for (const [command, specs] of COMMANDS) {
      const seen = new Map<string, string>();
      for (const spec of specs) {
        if (spec.value === undefined || SHARED.has(spec.value)) continue;
        const other = seen.get(spec.value);
        assert.equal(
          other,
          undefined,
          `${command}: --${other} and --${spec.name} are both ${spec.value}`,
        );
        seen.set(spec.value, spec.name);
      }
    }
  });

  it("names a concept the same in every command", () => {
    const names = new Set(COMMANDS.flatMap(([, specs]) => specs.map((s) => s.name)));
    for (const plural of ["backends", "runtimes", "epoch"]) assert.ok(!names.has(plural), plural);
    const out = COMMANDS.flatMap(([, specs]) => specs.filter((s) => s.name === "out"));
    assert.ok(out.every((s) => s.value !== "DIR"), "--out is a file; a directory is --out-dir");
  });

  it("takes the runtimes as --runtime in bench and cluster, and --runtimes as the same flag", () => {
    for (const specs of [BENCH_FLAGS, CLUSTER_FLAGS]) {
      assert.equal(parseFlags(["--runtime", "deno,bun"], specs).runtime, "deno,bun");
      assert.equal(parseFlags(["--runtimes", "bun"], specs).runtime, "bun");
      assert.throws(
        () => parseFlags(["--runtime", "bun", "--runtimes", "deno"], specs),
        (e: unknown) =>
          e instanceof UsageError && e.message === "--runtimes is --runtime: give it once",
      );
      assert.match(helpText("x", "y", specs), /^ {2}--runtime RUNTIMES .*\(also --runtimes\)/m);
    }
  });

  for (const command of ["train", "predict", "evaluate", "compare", "bench"] as const) {
    it(`${command} --help shows the usage line of both runtimes`, async () => {
      const r = await runCli(command, ["--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^Usage: deno task ${command} .*\\n {7}bun run ${command} `),
      );
    });
  }

  it("suggests the flag or value meant", () => {
    assert.throws(
      () => parseFlags(["--epoch", "3"], TRAIN_FLAGS),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === "--epoch: unknown flag (did you mean --epochs? see --help)",
    );
    assert.equal(didYouMean("spiral", ["xor", "circles", "spirals", "blobs"]), "spirals");
    assert.equal(didYouMean("circle", ["xor", "circles", "spirals", "blobs"]), "circles");
    assert.equal(didYouMean("lr", ["epochs", "seed"]), undefined);
    assert.equal(didYouMean("frobnicate", TRAIN_FLAGS.map((s) => s.name)), undefined);
    assert.equal(didYouMean("threshhold", PREDICT_FLAGS.map((s) => s.name)), "threshold");
  });
});
