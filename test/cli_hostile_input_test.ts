/**
 * Issue 17: what a hostile-but-realistic user types or feeds. Each case gets one clear line and
 * the documented status (usage 2, data 1), no stack trace, no file written or changed, and where
 * the defect was a long wait, an answer well within a time bound.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCheckpoint, writeCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { generate } from "../src/data/generators.ts";
import { MemoryLimitError } from "../src/errors.ts";
import { runtimeName } from "../src/runtime/process.ts";
import { scriptCommandLine } from "../src/runtime/runtimes.ts";
import { type CliResult, otherRuntime, runCli, runCliOn, startCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-hostile-"));
const BC = "data/breast_cancer.csv";

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** 40 rows of two features with both classes. */
const GOOD = `a,b,label\n${
  Array.from({ length: 40 }, (_, i) => `${(i % 7) - 3},${i / 10},${i % 2}\n`).join("")
}`;

const MODEL = {
  hidden: 2,
  features: 2,
  W1: [[0.1, 0.2], [0.3, 0.4]],
  b1: [0, 0],
  W2: [0.5, -0.5],
  b2: 0,
};

/** Every file under `root` with its bytes, to show that a refused run changed nothing. */
function snapshot(root = dir): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const path = join(root, name);
    try {
      files.set(name, readFileSync(path).toString("base64"));
    } catch {
      files.set(name, "(directory)");
    }
  }
  return files;
}

/**
 * Runs `command` with `args` and checks the refusal: `code`, one line on stderr beginning with
 * the command's name and matching `message`, no stack trace, nothing on stdout, no file in the
 * test folder created or changed, and an answer within `withinMs`.
 */
async function assertRefused(
  command: "train" | "predict",
  args: string[],
  code: 1 | 2,
  message: RegExp,
  withinMs = 60_000,
): Promise<CliResult> {
  const before = snapshot();
  const r = await runCli(command, args, {}, withinMs);
  assert.equal(r.signal, null, `killed after ${withinMs} ms: ${r.stderr}`);
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.split("\n");
  assert.equal(lines.length, 2, `not one line: ${r.stderr}`);
  assert.match(lines[0], new RegExp(`^${command}: `));
  assert.match(lines[0], message);
  assert.doesNotMatch(r.stderr, /internal error|\bat .*:\d+:\d+\)?$/m, "a stack trace");
  assert.equal(r.stdout, "");
  assert.deepEqual(snapshot(), before, "a file was created or changed");
  assert.ok(r.ms < withinMs, `took ${r.ms} ms`);
  return r;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("1: blank lines after the data cost nothing", () => {
  it("200 rows × 2001 columns and 5 M blank lines train and predict", async () => {
    const row = (i: number) =>
      Array.from({ length: 2000 }, (_, k) => ((i * 31 + k) % 17) / 8).join(",") + `,${i % 2}\n`;
    const csv = file(
      "wide.csv",
      Array.from({ length: 200 }, (_, i) => row(i)).join("") + "\n".repeat(5_000_000),
    );
    const model = join(dir, "wide.json");
    const t = await runCli(
      "train",
      [
        ...["--data", csv, "--hidden", "2", "--epochs", "1", "--workers", "0", "--out", model],
      ],
      {},
      60_000,
    );
    assert.equal(t.code, 0, t.stderr);
    const p = await runCli("predict", ["--model", model, "--data", csv], {}, 60_000);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout.split("\n").length, 202);
  });
});

describe("2: output paths are checked before the first epoch", () => {
  const long = ["--data", BC, "--epochs", "100000", "--workers", "0"];
  it("--out in a folder that does not exist", async () => {
    await assertRefused(
      "train",
      [...long, "--out", join(dir, "no", "model.json")],
      2,
      /--out: no such directory: .*no$/,
      30_000,
    );
  });
  it("--out onto a directory", async () => {
    await assertRefused("train", [...long, "--out", dir], 2, /--out: .* is a directory$/, 30_000);
  });
  it("--checkpoint onto a directory", async () => {
    await assertRefused(
      "train",
      [...long, "--checkpoint", dir],
      2,
      /--checkpoint: .* is a directory$/,
      30_000,
    );
  });
  it("predict --out in a folder that does not exist", async () => {
    const model = file("small.json", JSON.stringify(MODEL));
    await assertRefused(
      "predict",
      ["--model", model, "--data", file("p.csv", GOOD), "--out", join(dir, "no", "p.csv")],
      2,
      /--out: no such directory/,
    );
  });
});

describe("3: nothing that is not ours is overwritten", () => {
  it("--out equal to --data", async () => {
    const csv = file("self.csv", GOOD);
    await assertRefused(
      "train",
      ["--data", csv, "--epochs", "1", "--out", csv],
      2,
      /--out: .*self\.csv is also --data, an input of this run; write to another file$/,
    );
  });
  it("--checkpoint onto a file that is not a checkpoint, unless --force", async () => {
    const readme = file("README.md", "# my notes\n");
    const args = ["--data", file("g.csv", GOOD), "--epochs", "1", "--checkpoint", readme];
    await assertRefused(
      "train",
      args,
      2,
      /--checkpoint: .*README\.md exists and is not a checkpoint of this trainer; not replacing it \(give --force to replace it\)$/,
    );
    const forced = await runCli("train", [...args, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(readFileSync(readme, "utf8"), "# my notes\n");
  });
  it("--out onto a file that is not a model file; a model file is replaced", async () => {
    const notes = file("notes.json", `{"mine": true}\n`);
    const args = ["--data", file("g.csv", GOOD), "--epochs", "1"];
    await assertRefused(
      "train",
      [...args, "--out", notes],
      2,
      /--out: .*notes\.json exists and is not a model file of this trainer/,
    );
    const model = file("ours.json", JSON.stringify(MODEL));
    const replaced = await runCli("train", [...args, "--out", model]);
    assert.equal(replaced.code, 0, replaced.stderr);
  });
  it("predict --out onto the model or a file that is not a predictions file", async () => {
    const model = file("small.json", JSON.stringify(MODEL));
    const data = file("p.csv", GOOD);
    await assertRefused(
      "predict",
      ["--model", model, "--data", data, "--out", model],
      2,
      /--out: .* is also --model, an input of this run/,
    );
    const other = file("other.csv", "x\n1\n");
    await assertRefused(
      "predict",
      ["--model", model, "--data", data, "--out", other],
      2,
      /--out: .*other\.csv exists and is not a predictions file/,
    );
  });
});

describe("4: temporary files of killed writers are removed", () => {
  it("by the next run writing that checkpoint, not those of live processes", async () => {
    const folder = join(dir, "temps");
    mkdirSync(folder, { recursive: true });
    const checkpoint = join(folder, "run.ckpt");
    // A pid that has certainly ended: a child that has exited and been reaped.
    const deadPid = spawnSync(process.execPath, ["--version"]).pid!;
    const dead = `${checkpoint}.${deadPid}.tmp`;
    const live = `${checkpoint}.${process.pid}.tmp`;
    writeFileSync(dead, "stale");
    writeFileSync(live, "busy");
    const r = await runCli("train", [
      ...["--data", file("g.csv", GOOD), "--epochs", "2", "--checkpoint", checkpoint],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(dead), "the dead writer's temporary file is still there");
    assert.ok(existsSync(live), "a live process's temporary file was removed");
    assert.deepEqual(readdirSync(folder).sort(), ["run.ckpt", `run.ckpt.${process.pid}.tmp`]);
  });
});

describe("5 and 6: sizes beyond memory are refused before allocating, naming the part", () => {
  it("--samples 100000000 --features 64: the data", async () => {
    await assertRefused(
      "train",
      ["--samples", "100000000", "--features", "64", "--epochs", "1"],
      2,
      /the shared workspace needs 25\.0 GiB; the largest part is the data \(100000000 rows × 64 features × 4 bytes: 24\.2 GiB\), more than the 4\.0 GiB that one shared memory can hold: use less data: fewer rows or features \(--samples, --features of a generator\)$/,
      20_000,
    );
  });
  it("the generator refuses before allocating, in library terms", () => {
    assert.throws(
      () => generate("xor", 1e10, 64, 1),
      (e: Error) =>
        e instanceof MemoryLimitError &&
        /for the generated data \(10000000000 samples × 64 features × 8 bytes\).*: use fewer samples or features$/
          .test(e.message),
    );
  });
  it("--hidden 100000000: beyond the 4 GiB shared memory", async () => {
    await assertRefused(
      "train",
      ["--hidden", "100000000", "--epochs", "1"],
      2,
      /the shared workspace needs .* GiB; the largest part is the per-thread scratch .* more than the 4\.0 GiB that one shared memory can hold: use .*a smaller --hidden/,
      20_000,
    );
  });
  it("32768 × 1024 with --hidden 16384: the partial gradients, not the data", async () => {
    await assertRefused(
      "train",
      ["--samples", "32768", "--features", "1024", "--hidden", "16384", "--epochs", "1"],
      2,
      /the largest part is the partial gradients \(64 chunks × 16809985 parameters × 4 bytes: 4\.0 GiB\).*--batch-size/,
      20_000,
    );
  });
  it("a model file claiming hidden 1e8 × features 1e8, for predict and train --init", async () => {
    const huge = file("huge.json", JSON.stringify({ ...MODEL, hidden: 1e8, features: 1e8 }));
    const message = /huge\.json: "W1" must have 100000000 rows \(hidden\), got 2$/;
    await assertRefused("predict", ["--model", huge, "--data", file("p.csv", GOOD)], 1, message);
    await assertRefused("train", ["--data", file("g.csv", GOOD), "--init", huge], 1, message);
  });
});

describe("7: --workers is bounded and start-up is interruptible", () => {
  it("--workers 1000 is refused at once", async () => {
    await assertRefused(
      "train",
      ["--workers", "1000"],
      2,
      /--workers: expected auto or an integer ≥ 0 and ≤ 256, got 1000$/,
      20_000,
    );
  });
  it("--help states the bound", async () => {
    const r = await runCli("train", ["--help"]);
    assert.match(r.stdout, /--workers W .*W from 1 to 256/);
  });
  it("SIGINT during the start-up of 256 workers acts within 5 s", async () => {
    const out = join(dir, "interrupted.json");
    const running = startCli("train", [
      ...["--samples", "2048", "--epochs", "3", "--workers", "256", "--out", out],
    ]);
    let stderr = "";
    let signalledAt = 0;
    running.child.stderr!.on("data", (d) => {
      stderr += d;
      // The note on idle workers comes just before the workers start.
      if (!signalledAt && stderr.includes("256 workers but")) {
        signalledAt = performance.now();
        // Not child.kill: Deno's child_process then reports the signal instead of the exit status.
        process.kill(running.child.pid!, "SIGINT");
      }
    });
    const r = await running.done;
    assert.ok(signalledAt > 0, `no start-up note: ${r.stderr}`);
    const ms = performance.now() - signalledAt;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(ms < 5_000, `exited ${ms.toFixed(0)} ms after SIGINT`);
    assert.match(r.stderr, /note: stopped by signal; workers terminated\n$/);
    assert.ok(!existsSync(out));
  });
});

describe("8: seeds are integers from 0 to 2^53 − 1", () => {
  for (const seed of ["1e300", "0.5", "9007199254740992", "-1"]) {
    it(`--seed ${seed} is refused`, async () => {
      await assertRefused(
        "train",
        ["--seed", seed, "--epochs", "1"],
        2,
        new RegExp(
          `--seed: expected an integer ≥ 0 and ≤ 9007199254740991, got "?${escape(seed)}"?$`,
        ),
      );
    });
  }
});

describe("9: a flag that would be ignored or contradicts another input is a usage error", () => {
  const csv = () => ["--data", file("g.csv", GOOD), "--epochs", "1"];
  it("--label with a generator", async () => {
    await assertRefused(
      "train",
      ["--data", "gen:circles", "--label", "0", "--epochs", "1"],
      2,
      /--label: only with a CSV file; gen:circles is a generator/,
    );
  });
  for (const flag of ["--samples", "--features"]) {
    it(`${flag} with a CSV`, async () => {
      await assertRefused(
        "train",
        [...csv(), flag, "100"],
        2,
        new RegExp(`${flag}: only with a generator; .*g\\.csv is a CSV file`),
      );
    });
  }
  it("--hidden other than the --init model's; the same is accepted", async () => {
    const init = file("init.json", JSON.stringify(MODEL));
    await assertRefused(
      "train",
      [...csv(), "--init", init, "--hidden", "5"],
      2,
      /--hidden 5: the --init model .*init\.json has 2 hidden units; leave --hidden out or give 2$/,
    );
    const same = await runCli("train", [...csv(), "--init", init, "--hidden", "2"]);
    assert.equal(same.code, 0, same.stderr);
  });
  it("--init with --resume", async () => {
    const checkpoint = join(dir, "nine.ckpt");
    const first = await runCli("train", [...csv(), "--hidden", "2", "--checkpoint", checkpoint]);
    assert.equal(first.code, 0, first.stderr);
    await assertRefused(
      "train",
      [
        ...csv(),
        "--epochs",
        "3",
        "--init",
        file("init.json", JSON.stringify(MODEL)),
        "--resume",
        checkpoint,
      ],
      2,
      /--init: not with --resume, which continues from the checkpoint's parameters$/,
    );
  });
});

describe("10: a file named like a generator", () => {
  /** Runs train in `cwd`, where the relative path `circles` is the user's file. */
  function trainIn(cwd: string, args: string[]): Promise<CliResult> {
    const script = fileURLToPath(new URL("../scripts/train.ts", import.meta.url));
    const [command, ...rest] = scriptCommandLine(script, args);
    const started = performance.now();
    const child = spawn(command, rest, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    return new Promise((resolve) =>
      child.on(
        "close",
        (code, signal) =>
          resolve({ code, signal, stdout, stderr, ms: performance.now() - started }),
      )
    );
  }
  it("is read as the file, with a note; gen:circles is the generator", async () => {
    const cwd = join(dir, "shadow");
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, "circles"), GOOD);
    const common = ["--epochs", "1", "--workers", "0", "--log-format", "json"];
    const fromFile = await trainIn(cwd, ["--data", "circles", ...common]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(
      fromFile.stderr,
      "note: --data circles: reading the file; the generator of that name is --data gen:circles\n",
    );
    const fromGenerator = await trainIn(cwd, [
      "--data",
      "gen:circles",
      "--samples",
      "64",
      ...common,
    ]);
    assert.equal(fromGenerator.code, 0, fromGenerator.stderr);
    assert.equal(fromGenerator.stderr, "");
    assert.notEqual(fromFile.stdout, fromGenerator.stdout);
  });
  it("an unknown gen: name is a usage error", async () => {
    await assertRefused(
      "train",
      ["--data", "gen:moons"],
      2,
      /no generator "moons"; the generators are xor, circles, spirals, blobs$/,
    );
  });
});

describe("11: smaller cases, same rule", () => {
  it("--label -1 names a negative index, not the parser", async () => {
    await assertRefused(
      "train",
      ["--data", file("g.csv", GOOD), "--label", "-1"],
      2,
      /--label: column indexes count from 0, got -1; the columns are 0 "a", 1 "b", 2 "label"$/,
    );
  });
  it("a cell with a carriage return is quoted as it is", async () => {
    const csv = file("cr-cell.csv", `a,b,label\n1,2,"0\r"\n3,4,1\n`);
    await assertRefused(
      "train",
      ["--data", csv],
      1,
      /:2:3: label "0\\r" holds a control character$/,
    );
    const feature = file("cr-feature.csv", `a,b,label\n1,"2\r",0\n3,4,1\n`);
    await assertRefused("train", ["--data", feature], 1, /:2:2: "2\\r" is not a number$/);
  });
  it("1e999 in a model file is not a finite number", async () => {
    const text = JSON.stringify(MODEL).replace('"b2":0', '"b2":1e999');
    const model = file("inf.json", text);
    await assertRefused(
      "predict",
      ["--model", model, "--data", file("p.csv", GOOD)],
      1,
      /inf\.json: "b2"\[0\] is not a finite number \(beyond the range of float64\)$/,
    );
  });
  it("CR-only line ends train the same model as LF", async () => {
    const models = [];
    for (const [name, text] of [["lf.csv", GOOD], ["cr.csv", GOOD.replaceAll("\n", "\r")]]) {
      const out = join(dir, `${name}.json`);
      const r = await runCli("train", [
        ...["--data", file(name, text), "--epochs", "2", "--workers", "0", "--out", out],
      ]);
      assert.equal(r.code, 0, r.stderr);
      models.push(readFileSync(out, "utf8").replace(/"data":"[^"]*"/, ""));
    }
    assert.equal(models[1], models[0]);
  });
});

describe("12: one class is refused however it comes about; non-finite output is an error", () => {
  it("--samples 1", async () => {
    await assertRefused(
      "train",
      ["--samples", "1"],
      2,
      /--samples: expected an integer ≥ 2, got 1$/,
    );
  });
  it("--val-split 0.999 leaving one class", async () => {
    await assertRefused(
      "train",
      ["--data", BC, "--val-split", "0.999", "--epochs", "1"],
      2,
      /--val-split 0\.999 leaves 1 training row, all of class [01]; training needs both classes, 0 and 1$/,
    );
  });
  it("predict with weights too large for the inputs", async () => {
    const model = file(
      "huge-weights.json",
      JSON.stringify({ ...MODEL, W1: [[1e308, -1e308], [1e308, 1e308]], W2: [1e308, -1e308] }),
    );
    const out = join(dir, "never.csv");
    await assertRefused(
      "predict",
      ["--model", model, "--data", file("p.csv", GOOD), "--out", out],
      1,
      /huge-weights\.json: the model's output is not finite on .*p\.csv \(row \d+'s probability is NaN\): its weights are too large for these inputs$/,
    );
  });
});

describe("13: a checkpoint written on the other runtime", () => {
  it("resumes with a note; on the same runtime without one", async () => {
    const csv = ["--data", file("g.csv", GOOD), "--hidden", "2", "--workers", "0"];
    const checkpoint = join(dir, "runtime.ckpt");
    const first = await runCli("train", [...csv, "--epochs", "1", "--checkpoint", checkpoint]);
    assert.equal(first.code, 0, first.stderr);
    const written = readCheckpoint(checkpoint);
    assert.equal(written.writer?.runtime, runtimeName());
    assert.match(written.writer?.identity ?? "", /^[0-9a-f]{16}$/);
    const same = await runCli("train", [...csv, "--epochs", "2", "--resume", checkpoint]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stderr, "");
    const other = runtimeName().startsWith("deno") ? "bun 1.4.5" : "deno 2.9.6";
    const moved = join(dir, "other-runtime.ckpt");
    const writer = { ...written.writer!, runtime: other, identity: "0123456789abcdef" };
    writeCheckpoint(moved, { ...written, writer });
    const r = await runCli("train", [...csv, "--epochs", "2", "--resume", moved]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      `note: ${moved} was written on ${other}, this run is on ${runtimeName()}: training ` +
        `continues, but the result may differ from an uninterrupted run on either runtime\n`,
    );
  });

  it("resumes without a note when both runtimes' kernels compute the same bits", async () => {
    // The plain wasm build computes the same bits on Deno and Bun; relaxed SIMD fuses on V8 only.
    const base = ["--data", file("g.csv", GOOD), "--hidden", "2", "--workers", "0"];
    for (const [variant, noted] of [["plain", false], ["relaxed", true]] as const) {
      const args = [...base, "--backend", "wasm", "--kernel-variant", variant];
      const checkpoint = join(dir, `cross-${variant}.ckpt`);
      const first = await runCliOn(otherRuntime(), "train", [
        ...args,
        "--epochs",
        "1",
        "--checkpoint",
        checkpoint,
      ]);
      assert.equal(first.code, 0, first.stderr);
      const r = await runCli("train", [...args, "--epochs", "2", "--resume", checkpoint]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(/was written on/.test(r.stderr), noted, `${variant}: ${r.stderr}`);
    }
  });
});
