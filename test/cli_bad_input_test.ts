import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./run_cli.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-bad-input-"));
const out = join(dir, "model.json");

/** 40 rows of two features with both classes, as CSV lines ending in `eol`. */
function goodRows(eol = "\n"): string {
  return Array.from({ length: 40 }, (_, i) => `${(i % 7) - 3},${i / 10},${i % 2}${eol}`).join("");
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/**
 * Runs train on `args` (plus a small default data set unless `--data` is among them) with `--out`,
 * and checks what a user must see for bad input: the status, one line on stderr that begins with
 * `train: ` and matches `message`, no stack trace, nothing on stdout and no model file.
 */
async function assertRefused(args: string[], code: 1 | 2, message: RegExp): Promise<void> {
  const data = args.includes("--data")
    ? []
    : ["--data", file("good.csv", `a,b,label\n${goodRows()}`)];
  const r = await runCli("train", [...data, ...args, "--epochs", "3", "--out", out], {}, 30_000);
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.signal, null);
  const lines = r.stderr.split("\n");
  assert.equal(lines.length, 2, `not one line: ${r.stderr}`);
  assert.equal(lines[1], "");
  assert.match(lines[0], /^train: /);
  assert.match(lines[0], message);
  assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+\)?$/m, "a stack trace");
  assert.equal(r.stdout, "");
  assert.ok(!existsSync(out), "the model file was written");
}

describe("train refuses bad CSV input with one line naming file, line and column (exit 1)", () => {
  const CASES: [string, string | Uint8Array, RegExp][] = [
    ["a ragged row", "a,b,label\n1,2,0\n3,4\n", /:3:3: expected 3 cells \(as in line 1\), got 2$/],
    ["a row too long", "a,b,label\n1,2,0\n3,4,1,5\n", /:3:4: expected 3 cells/],
    ["a non-numeric cell", "a,b,label\n1,2,0\n3,x,1\n", /:3:2: "x" is not a number$/],
    ["NaN", "a,b,label\n1,2,0\nNaN,4,1\n", /:3:1: "NaN" is not a finite number$/],
    ["Infinity", "a,b,label\n1,Infinity,0\n3,4,1\n", /:2:2: "Infinity" is not a finite number$/],
    ["-Infinity", "a,b,label\n1,2,0\n-inf,4,1\n", /:3:1: "-inf" is not a finite number$/],
    ["a value that overflows", "a,b,label\n1,2,0\n3,1e999,1\n", /:3:2: "1e999" is too large/],
    ["an empty file", "", /: empty file$/],
    ["a header and no rows", "a,b,label\n", /: a header row but no data rows$/],
    ["a missing cell", "a,b,label\n1,,0\n3,4,1\n", /:2:2: empty cell \(missing value\)$/],
    [
      "a third label value",
      "a,b,label\n1,2,0\n3,4,2\n5,6,1\n",
      /:4:3: column 2 "label" has more than two label values \("0", "2", "1"\); a binary classifier needs two$/,
    ],
    [
      "a label column of one class",
      "a,b,label\n1,2,1\n3,4,1\n",
      /: every label in column 2 "label" is "1"; training needs two classes$/,
    ],
    [
      "binary garbage",
      Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0xff, 0xfe, 0x80),
      /: not a text CSV \(invalid UTF-8\)$/,
    ],
    ["a NUL byte", "a,b,label\n1,2\u0000,0\n", /:2:2: NUL character: not a text CSV$/],
  ];
  CASES.forEach(([name, content], i) => {
    it(name, async () => {
      const path = file(`bad-${i}.csv`, content);
      const message = CASES[i][2];
      await assertRefused(
        ["--data", path],
        1,
        new RegExp(`^train: ${escape(path)}${message.source}`),
      );
    });
  });

  it("a file too large for memory, refused up front with its size", async () => {
    const path = join(dir, "huge.csv");
    writeFileSync(path, "");
    truncateSync(path, 2 ** 29); // sparse: takes no disk space, and is never read
    await assertRefused(
      ["--data", path],
      1,
      /: the file is 512\.0 MiB \(536870912 bytes\), more than the .* that can be loaded$/,
    );
  });

  it("feature values beyond float32's range", async () => {
    const path = file("wide.csv", `a,b,label\n1,2,0\n3,1e39,1\n`);
    await assertRefused(
      ["--data", path, "--standardize", "none"],
      1,
      /feature "b" of training row 2 is 1e\+39, beyond the range of f32 \(use --dtype f64/,
    );
  });
});

describe("train accepts a UTF-8 BOM and CRLF line ends", () => {
  it("trains the same model from LF, CRLF and BOM files", async () => {
    const models = [];
    for (
      const [name, text] of [
        ["lf.csv", `a,b,label\n${goodRows()}`],
        ["crlf.csv", `a,b,label\r\n${goodRows("\r\n")}`],
        ["bom.csv", `\ufeffa,b,label\r\n${goodRows("\r\n")}`],
      ]
    ) {
      const model = join(dir, `${name}.json`);
      const r = await runCli("train", [
        ...["--data", file(name, text), "--label", "label", "--epochs", "3", "--out", model],
      ]);
      assert.equal(r.code, 0, r.stderr);
      models.push(readFileSync(model, "utf8").replace(/"data":"[^"]*"/, ""));
    }
    assert.equal(models[1], models[0], "CRLF");
    assert.equal(models[2], models[0], "BOM");
  });
});

describe("train refuses a bad --init model file", () => {
  const model = {
    hidden: 2,
    features: 2,
    W1: [[0.1, 0.2], [0.3, 0.4]],
    b1: [0, 0],
    W2: [0.5, -0.5],
    b2: 0,
  };

  it("of another shape (exit 1)", async () => {
    const path = file(
      "wide.json",
      JSON.stringify({ ...model, features: 3, W1: [[1, 2, 3], [4, 5, 6]] }),
    );
    await assertRefused(
      ["--init", path],
      1,
      /the initial model has 3 features, the data set has 2$/,
    );
  });

  it("truncated (exit 1)", async () => {
    const text = JSON.stringify(model);
    const path = file("cut.json", text.slice(0, text.length / 2));
    await assertRefused(["--init", path], 1, new RegExp(`^train: ${escape(path)}: not valid JSON`));
  });

  it("corrupt (exit 1)", async () => {
    const path = file("nan.json", JSON.stringify({ ...model, W1: [[0.1, "x"], [0.3, 0.4]] }));
    await assertRefused(
      ["--init", path],
      1,
      new RegExp(`^train: ${escape(path)}: "W1\\[0\\]"\\[1\\] must be a finite number, got "x"$`),
    );
  });

  it("missing (exit 2)", async () => {
    await assertRefused(["--init", join(dir, "absent.json")], 2, /--init: cannot read model file/);
  });
});

describe("train refuses a --resume checkpoint that does not fit", () => {
  const checkpoint = join(dir, "run.ckpt");
  const data = () => ["--data", join(dir, "good.csv")];

  before(async () => {
    file("good.csv", `a,b,label\n${goodRows()}`);
    const r = await runCli("train", [
      ...data(),
      ...["--epochs", "2", "--hidden", "4", "--checkpoint", checkpoint],
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("with another hidden size (exit 1)", async () => {
    await assertRefused(
      [...data(), "--hidden", "5", "--resume", checkpoint],
      1,
      /^train: --resume .*run\.ckpt: --hidden differs: the checkpoint has 4, this run 5$/,
    );
  });

  it("with another learning rate (exit 1)", async () => {
    await assertRefused(
      [...data(), "--hidden", "4", "--lr", "0.1", "--resume", checkpoint],
      1,
      /--lr differs: the checkpoint has 0\.5, this run 0\.1$/,
    );
  });

  it("with other data (exit 1)", async () => {
    const other = file("other.csv", `a,b,label\n${goodRows().replace("-3,", "-2,")}`);
    await assertRefused(
      ["--data", other, "--hidden", "4", "--resume", checkpoint],
      1,
      /--resume .*: the data differs: the checkpoint has .*good\.csv \(40 rows × 2 features, fingerprint [0-9a-f]{16}\), this run .*other\.csv/,
    );
  });

  it("truncated (exit 1)", async () => {
    const bytes = readFileSync(checkpoint);
    const path = file("cut.ckpt", bytes.subarray(0, bytes.length - 10));
    await assertRefused(
      [...data(), "--hidden", "4", "--resume", path],
      1,
      new RegExp(
        `^train: --resume ${
          escape(path)
        }: truncated or corrupt checkpoint \\(the data ends early\\)$`,
      ),
    );
  });

  it("corrupt (exit 1)", async () => {
    const bytes = Uint8Array.from(readFileSync(checkpoint));
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    const path = file("flipped.ckpt", bytes);
    await assertRefused(
      [...data(), "--hidden", "4", "--resume", path],
      1,
      /truncated or corrupt checkpoint \(checksum mismatch\)$/,
    );
  });

  it("that is a model file (exit 1)", async () => {
    const model = join(dir, "as-model.json");
    const r = await runCli("train", [...data(), "--epochs", "1", "--out", model]);
    assert.equal(r.code, 0, r.stderr);
    await assertRefused([...data(), "--resume", model], 1, /this is JSON, not a checkpoint/);
  });

  it("that already holds --epochs epochs (exit 2)", async () => {
    const r = await runCli("train", [
      ...[...data(), "--hidden", "4", "--resume", checkpoint, "--epochs", "2", "--out", out],
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^train: --epochs 2: .*run\.ckpt already holds 2 epochs; --epochs is the total, so give more than 2\n$/,
    );
    assert.ok(!existsSync(out));
  });

  it("missing (exit 2)", async () => {
    await assertRefused(
      [...data(), "--resume", join(dir, "absent.ckpt")],
      2,
      /^train: --resume: cannot read checkpoint file: .*absent\.ckpt$/,
    );
  });
});
