import { readFileSync, statSync } from "node:fs";
import { totalmem } from "node:os";
import { DataError, UsageError } from "../errors.ts";
import type { Dataset } from "./dataset.ts";

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
 * Loads a CSV file of numbers with a 0/1 label column; see {@link parseCsv} for the format.
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
    if (!stat.isFile()) throw new UsageError(`--data: not a file: ${path}`);
    size = stat.size;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") {
      throw new UsageError(`--data: no such file: ${path}`);
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
 * label column by header name or 0-based index (default: the last column); its values must be 0
 * or 1, with both present. Errors name `source:line:column`, the column counted in cells from 1.
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
  #ones = 0;
  #bothClasses: boolean;

  constructor(text: string, first: string[], line: number, source: string, options: CsvOptions) {
    this.#source = source;
    this.#bothClasses = options.bothClasses ?? true;
    this.#columns = first.length;
    // A blank cell is a missing value, not a name: the row is still data, and fails as such.
    this.#header = first.some((cell) =>
      cell.trim() !== "" && !DECIMAL.test(cell) && !NON_FINITE.test(cell)
    );
    const names = this.#header ? first.map((cell) => cell.trim()) : null;
    this.#labelColumn = options.label === null
      ? -1
      : labelColumn(options.label, names, first.length);
    this.#labelName = names === null
      ? `column ${this.#labelColumn}`
      : `column ${this.#labelColumn} ${JSON.stringify(names[this.#labelColumn])}`;
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
      const value = parseNumber(cells[c], this.#source, line, c + 1);
      if (c !== labelColumn) {
        this.#x[k++] = value;
      } else if (value === 1) {
        this.#y[row] = 1;
        this.#ones++;
      } else if (value !== 0) {
        throw new DataError(
          `${this.#source}:${line}:${c + 1}: label ${quote(cells[c])} is not 0 or 1`,
        );
      }
    }
  }

  finish(): Dataset {
    const rows = this.#rows;
    if (rows === 0) throw new DataError(`${this.#source}: a header row but no data rows`);
    if (this.#bothClasses && this.#labelColumn >= 0 && (this.#ones === 0 || this.#ones === rows)) {
      throw new DataError(
        `${this.#source}: every label in ${this.#labelName} is ${this.#ones === 0 ? 0 : 1}; ` +
          `training needs both classes, 0 and 1`,
      );
    }
    const features = this.#features;
    // The arrays were sized by an upper bound on the rows.
    const fits = this.#y.length === rows;
    return {
      x: fits ? this.#x : this.#x.slice(0, rows * features),
      y: fits ? this.#y : this.#y.slice(0, rows),
      samples: rows,
      features,
      featureNames: this.#names,
    };
  }
}

/** The label column's index from `--label` (a header name first, else an index). */
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
          `--label: the header names column ${at} and column ${again} "${label}"; ` +
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
      `--label: column ${label} is out of range; ${describeColumns(names, columns)}`,
    );
  }
  if (/^-\d+$/.test(label)) {
    throw new UsageError(
      `--label: column indexes count from 0, got ${label}; ${describeColumns(names, columns)}`,
    );
  }
  throw new UsageError(`--label: no column "${label}"; ${describeColumns(names, columns)}`);
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
