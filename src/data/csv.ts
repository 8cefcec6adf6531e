import { readFileSync, statSync } from "node:fs";
import { totalmem } from "node:os";
import { DataError, option, UsageError } from "../errors.ts";
import type { Dataset, LabelColumn } from "./dataset.ts";

/**
 * V8's longest string (`String::kMaxLength` on 64-bit), which is Deno's; JavaScriptCore (Bun)
 * allows 2^31 − 1. UTF-8 never decodes to more UTF-16 code units than it has bytes, so a file no
 * larger than this always becomes one string on both runtimes.
 */
const MAX_TEXT_BYTES = 2 ** 29 - 24;

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const BOM = 0xfeff;

/** What a CSV of floats holds: no hex, no `Infinity`, no empty string, unlike `Number()`. */
const DECIMAL = /^[ \t]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t]*$/;
const NON_FINITE = /^[ \t]*[+-]?(?:nan|inf|infinity)[ \t]*$/i;

/**
 * Loads a CSV file of numbers with a two-valued label column; see {@link parseCsv} for the format.
 * The size is checked before reading: by default a file may take a quarter of the machine's memory
 * (the bytes and the decoded text are held together, and the float64 rows take about as much again
 * for typical cells), and never more than one string can hold.
 *
 * @example
 * ```ts
 * const data = readCsv("data/breast_cancer.csv", { label: "label" });
 * console.log(data.samples, data.features); // 569 30
 * ```
 */
export function readCsv(path: string, options: CsvOptions & { maxBytes?: number } = {}): Dataset {
  return parseCsv(readCsvText(path, options.maxBytes), { ...options, source: path });
}

/**
 * The text of a CSV file, for {@link parseCsv}, after the checks {@link readCsv} describes: that
 * it exists, is a file, fits in memory (`maxBytes`, by default a quarter of the machine's memory)
 * and is UTF-8.
 *
 * @example
 * ```ts
 * const text = readCsvText("data/breast_cancer.csv");
 * const data = parseCsv(text, { source: "data/breast_cancer.csv" });
 * ```
 */
export function readCsvText(path: string, maxBytes = defaultMaxBytes()): string {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new UsageError(`${option("source")}: not a file: ${path}`);
    size = stat.size;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") {
      throw new UsageError(`${option("source")}: no such file: ${path}`);
    }
    throw e;
  }
  if (size > maxBytes) {
    throw new DataError(
      `${path}: the file is ${formatBytes(size)}, more than the ${
        formatBytes(maxBytes)
      } that can be loaded`,
    );
  }
  try {
    // The BOM is kept so that parseCsv strips it, the same for text from anywhere.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(readFileSync(path));
  } catch (e) {
    if (e instanceof TypeError) throw new DataError(`${path}: not a text CSV (invalid UTF-8)`);
    throw e;
  }
}

/**
 * How many columns CSV text has: the cells of its first record that is not blank, header or
 * data, without parsing the rest (which {@link parseCsv} checks against it).
 *
 * @example
 * ```ts
 * csvColumns("a,b,label\n1,2,0\n"); // 3
 * ```
 */
export function csvColumns(text: string, source = "<csv>"): number {
  const cursor = new CsvCursor(text, source);
  const cells: string[] = [];
  while (cursor.read(cells)) {
    if (!(cells.length === 1 && cells[0].trim() === "")) return cells.length;
  }
  throw new DataError(`${source}: empty file`);
}

/**
 * Parses CSV text of numbers into a data set. The first row is a header when any of its cells is
 * not a number, else columns are named `x0`, `x1`, …. Cells may be quoted (`""` escapes a quote),
 * lines end in LF, CRLF or CR, and a BOM and blank lines at the end are ignored. `label` names the
 * label column by header name or 0-based index (default: the last column). It holds two distinct
 * values, numbers or words (`0`/`1`, `2`/`4`, `B`/`M`): class 1 is `positiveLabel`, by default the
 * larger (numbers by value, words in code-unit order), and `label.values` records which is which.
 * Errors name `source:line:column`, the column counted in cells from 1.
 *
 * @example
 * ```ts
 * const data = parseCsv("a,b,label\n1,2,0\n3,4,1\n", { source: "inline.csv" });
 * console.log(data.x, data.y); // Float64Array [1, 2, 3, 4] Float64Array [0, 1]
 * ```
 */
export function parseCsv(text: string, options: CsvOptions & { source?: string } = {}): Dataset {
  const source = options.source ?? "<csv>";
  const cursor = new CsvCursor(text, source);
  const cells: string[] = [];
  let line = cursor.line;
  let blankLine = 0;
  let layout: Layout | undefined;
  while (cursor.read(cells)) {
    if (cells.length === 1 && cells[0].trim() === "") {
      blankLine ||= line;
    } else if (blankLine) {
      throw new DataError(`${source}:${blankLine}:1: blank line before the end of the data`);
    } else if (layout === undefined) {
      layout = new Layout(text, cells, line, source, options);
    } else {
      layout.addRow(cells, line);
    }
    line = cursor.line;
  }
  if (layout === undefined) throw new DataError(`${source}: empty file`);
  return layout.finish();
}

/** How to read a CSV's columns. */
export interface CsvOptions {
  /** The label column by header name or 0-based index (default: the last column); null: none. */
  readonly label?: string | null;
  /**
   * Require both classes among the labels (default true): training needs them, scoring a file
   * of one class does not.
   */
  readonly bothClasses?: boolean;
  /** The label value that is class 1 (default: the larger of the two). */
  readonly positiveLabel?: string;
  /**
   * The label values of class 0 and class 1, fixed in advance (a model's); any other value is an
   * error, and `positiveLabel`, if given, must be the second.
   */
  readonly labelValues?: readonly [string, string];
}

/** Reads records one at a time, tracking the line each starts on. */
class CsvCursor {
  /** The line the next record starts on. */
  line = 1;
  #text: string;
  #source: string;
  #pos: number;

  constructor(text: string, source: string) {
    this.#text = text;
    this.#source = source;
    this.#pos = text.charCodeAt(0) === BOM ? 1 : 0;
  }

  /** Replaces the contents of `cells` with the next record's; false when there is none. */
  read(cells: string[]): boolean {
    const t = this.#text;
    const n = t.length;
    let i = this.#pos;
    if (i >= n) return false;
    cells.length = 0;
    for (;;) {
      const column = cells.length + 1;
      if (t.charCodeAt(i) === QUOTE) {
        const openLine = this.line;
        let cell = "";
        let from = ++i;
        for (;;) {
          if (i >= n) {
            throw new DataError(
              `${this.#source}:${openLine}:${column}: unterminated quoted field (the quote opens here)`,
            );
          }
          const c = t.charCodeAt(i);
          if (c === QUOTE) {
            if (t.charCodeAt(i + 1) !== QUOTE) break;
            cell += t.slice(from, i + 1);
            i += 2;
            from = i;
            continue;
          }
          if (c === LF || (c === CR && t.charCodeAt(i + 1) !== LF)) this.line++;
          else if (c === 0) this.#nul(column);
          i++;
        }
        cells.push(cell + t.slice(from, i));
        i++;
      } else {
        const start = i;
        while (i < n) {
          const c = t.charCodeAt(i);
          if (c === COMMA || c === LF || c === CR) break;
          if (c === 0) this.#nul(column);
          i++;
        }
        cells.push(t.slice(start, i));
      }
      if (i >= n) {
        this.#pos = n;
        return true;
      }
      const c = t.charCodeAt(i);
      if (c === LF || c === CR) {
        this.line++;
        this.#pos = c === CR && t.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
        return true;
      }
      if (c !== COMMA) {
        throw new DataError(`${this.#source}:${this.line}:${column}: text after a closing quote`);
      }
      i++;
    }
  }

  #nul(column: number): never {
    throw new DataError(`${this.#source}:${this.line}:${column}: NUL character: not a text CSV`);
  }
}

/** The columns found in the first record, and the rows parsed so far. */
class Layout {
  #source: string;
  #names: readonly string[];
  #header: boolean;
  #labelColumn: number;
  /** How messages name the label column. */
  #labelName: string;
  #columns: number;
  #features: number;
  #x: Float64Array;
  #y: Float64Array;
  #rows = 0;
  #bothClasses: boolean;
  #headerLabel: string | undefined;
  /** The label values in order of first appearance, or the fixed ones; y holds their index. */
  #values: string[];
  #fixed: boolean;
  #positive: string | undefined;

  constructor(text: string, first: string[], line: number, source: string, options: CsvOptions) {
    this.#source = source;
    this.#bothClasses = options.bothClasses ?? true;
    this.#columns = first.length;
    this.#header = isHeader(first, options.label);
    const names = this.#header ? first.map((cell) => cell.trim()) : null;
    this.#labelColumn = options.label === null
      ? -1
      : labelColumn(options.label, names, first.length);
    this.#labelName = names === null
      ? `column ${this.#labelColumn}`
      : `column ${this.#labelColumn} ${JSON.stringify(names[this.#labelColumn])}`;
    this.#headerLabel = names === null || this.#labelColumn < 0
      ? undefined
      : names[this.#labelColumn];
    this.#fixed = options.labelValues !== undefined;
    this.#values = options.labelValues ? [...options.labelValues] : [];
    this.#positive = options.positiveLabel === undefined
      ? undefined
      : labelKey(options.positiveLabel);
    if (options.labelValues && this.#positive !== undefined) {
      if (this.#positive !== options.labelValues[1]) {
        throw new UsageError(
          `${option("positiveLabel")}: the model's class 1 is ${quote(options.labelValues[1])}, ` +
            `its class 0 ${quote(options.labelValues[0])}`,
        );
      }
    }
    if (first.length === 1 && this.#labelColumn === 0) {
      throw new DataError(`${source}: no feature columns: the only column is the label`);
    }
    const features = first.length - (this.#labelColumn < 0 ? 0 : 1);
    this.#names = names === null
      ? Array.from({ length: features }, (_, k) => `x${k}`)
      : names.filter((_, c) => c !== this.#labelColumn);
    this.#features = features;
    const rows = rowBound(text, first.length, this.#header);
    this.#x = new Float64Array(rows * features);
    this.#y = new Float64Array(rows);
    if (!this.#header) this.addRow(first, line);
  }

  addRow(cells: string[], line: number): void {
    const columns = this.#columns;
    if (cells.length !== columns) {
      const at = Math.min(cells.length, columns) + 1;
      throw new DataError(
        `${this.#source}:${line}:${at}: expected ${columns} cells (as in line 1), got ${cells.length}`,
      );
    }
    const row = this.#rows++;
    const labelColumn = this.#labelColumn;
    let k = row * this.#features;
    for (let c = 0; c < columns; c++) {
      if (c !== labelColumn) {
        this.#x[k++] = parseNumber(cells[c], this.#source, line, c + 1);
      } else {
        this.#y[row] = this.#labelCode(cells[c], line, c + 1);
      }
    }
  }

  /** The index of a label cell's value among the column's values (at most two). */
  #labelCode(cell: string, line: number, column: number): number {
    if (cell.trim() === "") {
      throw new DataError(`${this.#source}:${line}:${column}: empty cell (missing label)`);
    }
    // A label value is written back (predict's classes), so it must be one line of text.
    if (hasControlCharacter(cell)) {
      throw new DataError(
        `${this.#source}:${line}:${column}: label ${quote(cell)} holds a control character`,
      );
    }
    const key = labelKey(cell);
    const at = this.#values.indexOf(key);
    if (at >= 0) return at;
    if (this.#fixed) {
      throw new DataError(
        `${this.#source}:${line}:${column}: label ${quote(cell)} is not one of the model's ` +
          `labels, ${quote(this.#values[0])} and ${quote(this.#values[1])}`,
      );
    }
    if (this.#values.length === 2) {
      throw new DataError(
        `${this.#source}:${line}:${column}: ${this.#labelName} has more than two label values ` +
          `(${[...this.#values, key].map(quote).join(", ")}); a binary classifier needs two`,
      );
    }
    this.#values.push(key);
    return this.#values.length - 1;
  }

  finish(): Dataset {
    const rows = this.#rows;
    if (rows === 0) throw new DataError(`${this.#source}: a header row but no data rows`);
    const features = this.#features;
    // The arrays were sized by an upper bound on the rows.
    const fits = this.#y.length === rows;
    const y = fits ? this.#y : this.#y.slice(0, rows);
    const data = {
      x: fits ? this.#x : this.#x.slice(0, rows * features),
      y,
      samples: rows,
      features,
      featureNames: this.#names,
    };
    if (this.#labelColumn < 0) return data;
    if (this.#bothClasses && !this.#fixed && this.#values.length < 2) {
      throw new DataError(
        `${this.#source}: every label in ${this.#labelName} is ${quote(this.#values[0])}; ` +
          `training needs two classes`,
      );
    }
    const values = this.#classValues();
    // y holds indexes into #values; class 1 is values[1].
    if (this.#values[0] === values[1]) { for (let i = 0; i < rows; i++) y[i] = 1 - y[i]; }
    if (this.#bothClasses && this.#fixed && (y.every((v) => v === 0) || y.every((v) => v === 1))) {
      throw new DataError(
        `${this.#source}: every label in ${this.#labelName} is ${quote(values[y[0]])}; ` +
          `training needs both classes, ${quote(values[0])} and ${quote(values[1])}`,
      );
    }
    const label: LabelColumn = {
      ...(this.#headerLabel !== undefined ? { name: this.#headerLabel } : {}),
      values,
    };
    return { ...data, label };
  }

  /** Class 0's and class 1's label values. */
  #classValues(): [string, string] {
    const seen = this.#values;
    if (this.#fixed) return [seen[0], seen[1]];
    const positive = this.#positive;
    if (positive !== undefined && seen.length === 2 && !seen.includes(positive)) {
      throw new UsageError(
        `${option("positiveLabel")}: ${
          quote(positive)
        } is not a value of ${this.#labelName}, whose ` +
          `values are ${seen.map(quote).join(" and ")}`,
      );
    }
    if (seen.length === 1) {
      const only = seen[0];
      if (positive !== undefined && positive !== only) return [only, positive];
      if (only === "0" || only === "1") return positive === "0" ? ["1", "0"] : ["0", "1"];
      throw new DataError(
        `${this.#source}: every label in ${this.#labelName} is ${quote(only)}, and without ` +
          `the other value the classes cannot be told apart`,
      );
    }
    const [low, high] = [...seen].sort(compareLabels);
    if (positive === undefined || positive === high) return [low, high];
    return [high, low];
  }
}

/**
 * Whether a first record is a header: a cell that is not a number, but for the label column's
 * (given by index or the last), whose values may be words (`M`, `B`) in data rows too.
 */
function isHeader(first: readonly string[], label: string | null | undefined): boolean {
  const labelAt = label === null
    ? -1
    : label === undefined
    ? first.length - 1
    : /^\d+$/.test(label)
    ? Number(label)
    : -1;
  // A blank cell is a missing value, not a name: the row is still data, and fails as such.
  return first.some((cell, c) =>
    c !== labelAt && cell.trim() !== "" && !DECIMAL.test(cell) && !NON_FINITE.test(cell)
  );
}

/**
 * The header row's names, or null when the first record is data (see {@link parseCsv}); `label`
 * as for `parseCsv`.
 *
 * @example
 * ```ts
 * csvHeader("a,b,label\n1,2,0\n"); // ["a", "b", "label"]
 * ```
 */
export function csvHeader(
  text: string,
  source = "<csv>",
  label?: string | null,
): string[] | null {
  const cursor = new CsvCursor(text, source);
  const cells: string[] = [];
  while (cursor.read(cells)) {
    if (!(cells.length === 1 && cells[0].trim() === "")) {
      return isHeader(cells, label) ? cells.map((cell) => cell.trim()) : null;
    }
  }
  throw new DataError(`${source}: empty file`);
}

/** Whether text holds a control character other than tab (a line end, an escape, DEL). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** A label value as compared: a number in its shortest form (`1.0` is `1`), else the trimmed text. */
function labelKey(cell: string): string {
  return DECIMAL.test(cell) && Number.isFinite(Number(cell))
    ? String(Number(cell))
    : cell.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** Numbers by value, before words; words in code-unit order. */
function compareLabels(a: string, b: string): number {
  const na = DECIMAL.test(a) ? Number(a) : NaN;
  const nb = DECIMAL.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (!Number.isNaN(na) || !Number.isNaN(nb)) return Number.isNaN(na) ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The label column's index from `label` (a header name first, else an index). */
function labelColumn(
  label: string | undefined,
  names: string[] | null,
  columns: number,
): number {
  if (label === undefined) return columns - 1;
  if (names !== null) {
    const at = names.indexOf(label);
    if (at >= 0) {
      const again = names.indexOf(label, at + 1);
      if (again >= 0) {
        throw new UsageError(
          `${option("label")}: the header names column ${at} and column ${again} "${label}"; ` +
            `give an index instead`,
        );
      }
      return at;
    }
  }
  if (/^\d+$/.test(label)) {
    const index = Number(label);
    if (index < columns) return index;
    throw new UsageError(
      `${option("label")}: column ${label} is out of range; ${describeColumns(names, columns)}`,
    );
  }
  if (/^-\d+$/.test(label)) {
    throw new UsageError(
      `${option("label")}: column indexes count from 0, got ${label}; ${
        describeColumns(names, columns)
      }`,
    );
  }
  throw new UsageError(
    `${option("label")}: no column "${label}"; ${describeColumns(names, columns)}`,
  );
}

function describeColumns(names: string[] | null, columns: number): string {
  if (names === null) {
    return `the file has no header row, so give an index from 0 to ${columns - 1}`;
  }
  const shown = names.map((name, c) => `${c} ${JSON.stringify(name)}`);
  const list = shown.length <= 8 ? shown : [...shown.slice(0, 5), "…", ...shown.slice(-2)];
  return `the columns are ${list.join(", ")}`;
}

function parseNumber(cell: string, source: string, line: number, column: number): number {
  if (DECIMAL.test(cell)) {
    const value = Number(cell);
    if (Number.isFinite(value)) return value;
    throw new DataError(
      `${source}:${line}:${column}: ${
        quote(cell)
      } is too large for float64 (overflows to Infinity)`,
    );
  }
  const why = cell.trim() === ""
    ? "empty cell (missing value)"
    : NON_FINITE.test(cell)
    ? `${quote(cell)} is not a finite number`
    : `${quote(cell)} is not a number`;
  throw new DataError(`${source}:${line}:${column}: ${why}`);
}

/** A cell for a one-line message: as it is in the file, escaped, and shortened when long. */
function quote(cell: string): string {
  return JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
}

/**
 * An upper bound on the data rows of `columns` cells in the text, so that the rows are allocated
 * once: the lines (any line end) but the header, and no more rows than their shortest text fits
 * (a character per cell, the commas and a line end), so that blank lines cost nothing and the
 * float64 rows never take more than 4 bytes per character of text.
 */
function rowBound(text: string, columns: number, header: boolean): number {
  let lines = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) lines++;
  }
  return Math.min(lines - (header ? 1 : 0), Math.floor((text.length + 1) / (2 * columns)));
}

function defaultMaxBytes(): number {
  try {
    return Math.min(MAX_TEXT_BYTES, Math.floor(totalmem() / 4));
  } catch {
    // Deno without --allow-sys may not ask for the memory size; the string limit still holds.
    return MAX_TEXT_BYTES;
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}
