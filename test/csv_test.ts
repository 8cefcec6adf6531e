import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { csvColumns, parseCsv, readCsv } from "../src/data/csv.ts";
import { DataError, UsageError } from "../src/errors.ts";

const SOURCE = "t.csv";

function parse(text: string, label?: string) {
  return parseCsv(text, { source: SOURCE, label });
}

/** Asserts that parsing fails with an error of `type` whose message contains each of `parts`. */
function assertFails(
  text: string,
  type: typeof DataError | typeof UsageError,
  parts: string[],
  label?: string,
) {
  assert.throws(() => parse(text, label), (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
    assert.ok(!e.message.includes("\n"), `"${e.message}" is not one line`);
    return true;
  });
}

function withTempDir(body: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "shardnet-csv-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("csvColumns", () => {
  it("counts the cells of the first record, header or data, quoted commas and all", () => {
    assert.equal(csvColumns("a,b,label\n1,2,0\n"), 3);
    assert.equal(csvColumns('\ufeff"x, with a comma",y\r\n1,2\r\n'), 2);
    assert.equal(csvColumns("0.5\n"), 1);
  });

  it("skips blank records before the first one and refuses a file without any", () => {
    assert.equal(csvColumns("\n \n1,2,3,4\n"), 4);
    assert.throws(() => csvColumns("\n\n", "e.csv"), /^DataError: e\.csv: empty file$/);
  });
});

describe("parseCsv", () => {
  it("reads a header row and puts the last column in y", () => {
    const data = parse("a,b,label\n1,2,0\n3,4,1\n");
    assert.deepEqual(data.featureNames, ["a", "b"]);
    assert.equal(data.samples, 2);
    assert.equal(data.features, 2);
    assert.deepEqual(data.x, Float64Array.of(1, 2, 3, 4));
    assert.deepEqual(data.y, Float64Array.of(0, 1));
  });

  it("names the columns x0, x1, … when the first row is numbers", () => {
    const data = parse("1,2,0\n3,4,1");
    assert.deepEqual(data.featureNames, ["x0", "x1"]);
    assert.deepEqual(data.x, Float64Array.of(1, 2, 3, 4));
  });

  it("reads quoted fields with commas, escaped quotes and line breaks", () => {
    const data = parse('"a,1","say ""hi""","two\nlines"\n"1.5",2,"0"\n3,"-4",1\n');
    assert.deepEqual(data.featureNames, ["a,1", 'say "hi"']);
    assert.deepEqual(data.x, Float64Array.of(1.5, 2, 3, -4));
  });

  it("accepts CRLF, a BOM and blank lines at the end", () => {
    const data = parse("\uFEFFa,b,label\r\n1,2,0\r\n3,4,1\r\n\r\n  \n\n");
    assert.deepEqual(data.featureNames, ["a", "b"]);
    assert.deepEqual(data.x, Float64Array.of(1, 2, 3, 4));
    assert.deepEqual(data.y, Float64Array.of(0, 1));
  });

  it("accepts signs, exponents, bare points and spaces around numbers", () => {
    const data = parse(" +1.5e3 ,-.5,1.,0\n1E-3, 2 ,\t-0\t,1\n");
    assert.deepEqual(data.x, Float64Array.of(1500, -0.5, 1, 0.001, 2, -0));
  });

  it("takes the label column by name or by index", () => {
    const text = "y,a,b\n0,1,2\n1,3,4\n";
    const byName = parse(text, "y");
    assert.deepEqual(byName.featureNames, ["a", "b"]);
    assert.deepEqual(byName.x, Float64Array.of(1, 2, 3, 4));
    assert.deepEqual(byName.y, Float64Array.of(0, 1));
    assert.deepEqual(parse(text, "0"), byName);
    assert.deepEqual(parse("1,0,2\n3,1,4\n", "1").x, Float64Array.of(1, 2, 3, 4));
  });

  it("rejects an unknown label column, listing the columns", () => {
    assertFails("a,b,label\n1,2,0\n", UsageError, ["label:", '"nope"', '0 "a", 1 "b"'], "nope");
    assertFails("a,b,label\n1,2,0\n", UsageError, ["label:", "column 3", '2 "label"'], "3");
    assertFails("1,2,0\n", UsageError, ["label:", "no header row", "0 to 2"], "label");
    const wide = Array.from({ length: 40 }, (_, k) => `c${k}`).join(",");
    assertFails(`${wide}\n`, UsageError, ['0 "c0"', "…", '39 "c39"'], "nope");
  });

  it("rejects a label name that the header repeats", () => {
    assertFails("a,a,label\n1,2,0\n", UsageError, ["label:", "column 0", "column 1"], "a");
  });

  it("rejects rows with the wrong number of cells", () => {
    assertFails("a,b,label\n1,2,0\n1,2\n", DataError, ["t.csv:3:3:", "expected 3", "got 2"]);
    assertFails("a,b,label\n1,2,0,4\n", DataError, ["t.csv:2:4:", "expected 3", "got 4"]);
  });

  it("rejects cells that are not finite numbers", () => {
    assertFails("a,b,label\n1,abc,0\n", DataError, ['t.csv:2:2: "abc" is not a number']);
    assertFails("a,b,label\n0x1A,1,0\n", DataError, ['t.csv:2:1: "0x1A" is not a number']);
    assertFails("a,b,label\n1,2,0\n1,,1\n", DataError, ["t.csv:3:2:", "empty cell"]);
    assertFails("a,b,label\n1, ,0\n", DataError, ["t.csv:2:2:", "empty cell"]);
    for (const literal of ["NaN", "Infinity", "-Infinity", "inf", "nan"]) {
      assertFails(`a,b,label\n1,${literal},0\n`, DataError, [
        `t.csv:2:2: "${literal}" is not a finite number`,
      ]);
    }
    for (const big of ["1e400", "-1e400"]) {
      assertFails(`a,b,label\n${big},1,0\n`, DataError, [`t.csv:2:1: "${big}"`, "overflows"]);
    }
  });

  it("takes a first row of non-finite numbers as data, not a header", () => {
    assertFails("1,NaN,0\n", DataError, ['t.csv:1:2: "NaN" is not a finite number']);
    assertFails("1,,0\n", DataError, ["t.csv:1:2:", "empty cell"]);
  });

  it("rejects an empty file and a header without rows", () => {
    assertFails("", DataError, ["t.csv: empty file"]);
    assertFails("\n\n", DataError, ["t.csv: empty file"]);
    assertFails("a,b,label\n", DataError, ["t.csv:", "header row but no data rows"]);
  });

  it("rejects a blank line before the end of the data", () => {
    assertFails("a,b,label\n1,2,0\n\n3,4,1\n", DataError, ["t.csv:3:1:", "blank line"]);
  });

  it("rejects NUL characters as not text", () => {
    assertFails("a,b,label\n1,\0,0\n", DataError, ["t.csv:2:2:", "not a text CSV"]);
    assertFails('a,"\0",label\n', DataError, ["t.csv:1:2:", "not a text CSV"]);
  });

  it("rejects a third label value, naming the values, and a single class", () => {
    assertFails("a,label\n1,0\n2,2\n3,1\n", DataError, [
      't.csv:4:2: column 1 "label" has more than two label values ("0", "2", "1")',
    ]);
    assertFails("a,label\n1,M\n2,B\n3,\n", DataError, ["t.csv:4:2: empty cell"]);
    assertFails("a,label\n1,1\n2,1\n", DataError, [
      't.csv: every label in column 1 "label" is "1"',
    ]);
    assertFails("1,0\n2,0\n", DataError, ['t.csv: every label in column 1 is "0"']);
  });

  it("takes any two label values, class 1 the larger unless positiveLabel says", () => {
    const cases: [string, string | undefined, [string, string], number[]][] = [
      ["a,y\n1,0\n2,1\n", undefined, ["0", "1"], [0, 1]],
      ["a,y\n1,1.0\n2,0\n", undefined, ["0", "1"], [1, 0]],
      ["a,y\n1,M\n2,B\n3,M\n", undefined, ["B", "M"], [1, 0, 1]],
      ["a,y\n1,yes\n2,no\n", undefined, ["no", "yes"], [1, 0]],
      ["a,y\n1,4\n2,2\n", undefined, ["2", "4"], [1, 0]],
      ["a,y\n1,9\n2,10\n", undefined, ["9", "10"], [0, 1]],
      ["a,y\n1,M\n2,B\n", "B", ["M", "B"], [0, 1]],
      ["a,y\n1,0\n2,1\n", "0", ["1", "0"], [1, 0]],
    ];
    for (const [text, positiveLabel, values, y] of cases) {
      const data = parseCsv(text, { source: SOURCE, ...(positiveLabel ? { positiveLabel } : {}) });
      assert.deepEqual(data.label, { name: "y", values }, text);
      assert.deepEqual(Array.from(data.y), y, text);
    }
  });

  it("reads words in the label column of a file without a header as data", () => {
    const data = parseCsv("1,2,M\n3,4,B\n", { source: SOURCE });
    assert.equal(data.samples, 2);
    assert.deepEqual(data.label, { values: ["B", "M"] });
    assert.deepEqual(Array.from(data.y), [1, 0]);
  });

  it("reads labels with fixed label values, and refuses others or a contradicting positiveLabel", () => {
    const fixed = { source: SOURCE, labelValues: ["no", "yes"] as [string, string] };
    const data = parseCsv("a,y\n1,no\n", { ...fixed, bothClasses: false });
    assert.deepEqual(Array.from(data.y), [0]);
    assert.throws(
      () => parseCsv("a,y\n1,no\n2,maybe\n", fixed),
      /t\.csv:3:2: label "maybe" is not one of the model's labels, "no" and "yes"/,
    );
    assert.throws(
      () => parseCsv("a,y\n1,no\n2,yes\n", { ...fixed, positiveLabel: "no" }),
      (e: unknown) =>
        e instanceof UsageError && /positiveLabel: the model's class 1 is "yes"/.test(e.message),
    );
  });

  it("refuses a positiveLabel that is not a label value", () => {
    assert.throws(
      () => parseCsv("a,y\n1,M\n2,B\n", { source: SOURCE, positiveLabel: "X" }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          'positiveLabel: "X" is not a value of column 1 "y", whose values are "M" and "B"',
    );
  });

  it("rejects unterminated quotes and text after a closing quote", () => {
    assertFails('a,b,label\n1,"2,0\n3,4,1\n', DataError, ["t.csv:2:2:", "unterminated"]);
    assertFails('a,b,label\n1,"2"x,0\n', DataError, ["t.csv:2:2:", "after a closing quote"]);
  });

  it("rejects a file with no feature columns", () => {
    assertFails("label\n0\n1\n", DataError, ["t.csv:", "no feature columns"]);
  });

  it("round-trips any matrix of finite doubles, however it is quoted, laid out and ended", () => {
    const cell = fc.record({
      value: fc.double({ noNaN: true, noDefaultInfinity: true }),
      quoted: fc.boolean(),
      padded: fc.boolean(),
    });
    const table = fc.integer({ min: 2, max: 6 }).chain((columns) =>
      fc.record({
        rows: fc.array(fc.array(cell, { minLength: columns - 1, maxLength: columns - 1 }), {
          minLength: 2,
          maxLength: 20,
        }),
        labels: fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
        labelColumn: fc.integer({ min: 0, max: columns - 1 }),
        names: fc.array(fc.string(), { minLength: columns, maxLength: columns }),
        header: fc.boolean(),
        eol: fc.constantFrom("\n", "\r\n", "\r"),
        bom: fc.boolean(),
        finalNewline: fc.boolean(),
        // Blank or whitespace-only lines after the data, each with any line end.
        trailing: fc.array(
          fc.tuple(fc.constantFrom("", " ", "\t", " \t "), fc.constantFrom("\n", "\r\n", "\r")),
          { maxLength: 12 },
        ),
      })
    );
    fc.assert(fc.property(table, (t) => {
      const eol = t.eol;
      const names = t.names.map((name) => `c${name}`);
      const labels = t.rows.map((_, i) => i < 2 ? i : Number(t.labels[i]));
      const lines = t.rows.map((row, i) => {
        const cells = row.map(({ value, quoted, padded }) => {
          const text = Object.is(value, -0) ? "-0" : String(value);
          const spaced = padded ? ` ${text} ` : text;
          return quoted ? `"${spaced}"` : spaced;
        });
        cells.splice(t.labelColumn, 0, String(labels[i]));
        return cells.join(",");
      });
      if (t.header) lines.unshift(names.map(quoteName).join(","));
      const tail = t.trailing.map(([blank, end]) => blank + end).join("");
      const text = (t.bom ? "\uFEFF" : "") + lines.join(eol) +
        (t.finalNewline || tail !== "" ? eol : "") + tail;

      const data = parse(text, String(t.labelColumn));
      assert.equal(data.samples, t.rows.length);
      assert.deepEqual(data.x, Float64Array.from(t.rows.flat(), (c) => c.value));
      assert.deepEqual(data.y, Float64Array.from(labels));
      const expectedNames = t.header
        ? names.filter((_, c) => c !== t.labelColumn).map((name) => name.trim())
        : Array.from({ length: names.length - 1 }, (_, k) => `x${k}`);
      assert.deepEqual(data.featureNames, expectedNames);
    }));
  });
});

function quoteName(name: string): string {
  return /[",\r\n]/.test(name) ? `"${name.replaceAll('"', '""')}"` : name;
}

describe("readCsv", () => {
  it("loads the bundled breast-cancer data", () => {
    const path = fileURLToPath(new URL("../data/breast_cancer.csv", import.meta.url));
    const data = readCsv(path);
    assert.equal(data.samples, 569);
    assert.equal(data.features, 30);
    assert.equal(data.featureNames[0], "mean_radius");
    assert.equal(data.x[0], 17.99);
    assert.equal(data.y.reduce((a, b) => a + b), 357);
  });

  it("reads a file with a BOM and CRLF the same as parseCsv", () => {
    withTempDir((dir) => {
      const path = join(dir, "bom.csv");
      const text = "\uFEFFa,b,label\r\n1,2,0\r\n3,4,1\r\n";
      writeFileSync(path, text);
      assert.deepEqual(readCsv(path), parseCsv(text, { source: path }));
    });
  });

  it("refuses a missing file as a usage error", () => {
    withTempDir((dir) => {
      const path = join(dir, "absent.csv");
      assert.throws(() => readCsv(path), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.message, `source: no such file: ${path}`);
        return true;
      });
    });
  });

  it("refuses a file larger than the limit before reading it", () => {
    withTempDir((dir) => {
      const path = join(dir, "big.csv");
      writeFileSync(path, "a,b,label\n1,2,0\n3,4,1\n");
      assert.throws(() => readCsv(path, { maxBytes: 10 }), (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.ok(e.message.startsWith(`${path}: the file is 22 bytes`), e.message);
        assert.ok(e.message.includes("10 bytes"), e.message);
        return true;
      });
      assert.equal(readCsv(path, { maxBytes: 22 }).samples, 2);
    });
  });

  it("refuses bytes that are not UTF-8 as not text", () => {
    withTempDir((dir) => {
      const path = join(dir, "binary.csv");
      writeFileSync(path, Uint8Array.of(0x61, 0x2c, 0xff, 0xfe, 0x0a, 0x31, 0x2c, 0x30));
      assert.throws(() => readCsv(path), (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.message, `${path}: not a text CSV (invalid UTF-8)`);
        return true;
      });
    });
  });
});
