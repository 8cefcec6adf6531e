import { parseArgs } from "node:util";
import { didYouMean } from "../did_you_mean.ts";
import { UsageError } from "../errors.ts";
import { optionFlag } from "./option_flags.ts";

/**
 * One command-line flag. The table of these is the single source of parsing, validation and
 * `--help`: the design names @std/cli, which lives only on JSR (unreachable here), so this wraps
 * `parseArgs` from `node:util`, which Deno and Bun both provide.
 */
export interface FlagSpec {
  readonly name: string;
  /** How the value is written in `--help`, e.g. `H`; absent for a switch. */
  readonly value?: string;
  readonly type: "integer" | "number" | "string" | "switch";
  readonly help: string;
  /**
   * Another spelling of the same flag, accepted alike (one that scripts outside the project
   * already call); `--help` shows it beside the name.
   */
  readonly alias?: string;
  /** Accepted values of a string flag. */
  readonly choices?: readonly string[];
  /** Words a number flag accepts besides numbers (e.g. `auto`); they parse as themselves. */
  readonly words?: readonly string[];
  /** Inclusive lower bound of a number. */
  readonly min?: number;
  /** Exclusive lower bound of a number. */
  readonly above?: number;
  /** Exclusive upper bound of a number. */
  readonly below?: number;
  /** Inclusive upper bound of a number. */
  readonly max?: number;
  readonly default?: string | number;
  /** How the default reads in `--help`, when the value alone would not explain it. */
  readonly defaultText?: string;
}

/** Parsed flags: numbers for number flags, strings, `true` for given switches. */
export type FlagValues = Record<string, string | number | boolean | undefined>;

/**
 * Parses `args` by `specs`. Unknown flags, positional arguments and bad values throw a
 * `UsageError` whose one line names the flag and what it accepts.
 *
 * @example
 * ```ts
 * const flags = parseFlags(["--epochs", "5"], [{ name: "epochs", value: "E", type: "integer", min: 1, help: "epochs" }]);
 * flags.epochs; // 5
 * ```
 */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[]): FlagValues {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const spec of specs) {
    options[spec.name] = { type: spec.type === "switch" ? "boolean" : "string" };
    if (spec.alias !== undefined) options[spec.alias] = options[spec.name];
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: attachNegativeNumbers(args, specs),
      options,
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError(describeParseError((e as Error).message, specs));
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  const values: FlagValues = { help: raw.help === true };
  const given = new Set<string>();
  for (const spec of specs) {
    if (spec.alias !== undefined && raw[spec.alias] !== undefined && raw[spec.name] !== undefined) {
      throw new UsageError(`--${spec.alias} is --${spec.name}: give it once`);
    }
    const value = raw[spec.name] ?? (spec.alias !== undefined ? raw[spec.alias] : undefined);
    if (value !== undefined) given.add(spec.name);
    values[spec.name] = value === undefined ? spec.default : flagValue(spec, value);
  }
  GIVEN.set(values, given);
  return values;
}

const GIVEN = new WeakMap<FlagValues, ReadonlySet<string>>();

/**
 * Whether flag `name` was on the command line, as opposed to taking its default.
 *
 * @example
 * ```ts
 * flagGiven(parseFlags(["--epochs", "5"], specs), "epochs"); // true
 * ```
 */
export function flagGiven(values: FlagValues, name: string): boolean {
  return GIVEN.get(values)?.has(name) ?? false;
}

/**
 * One flag's value from its text, checked against its spec as `parseFlags` checks it (a
 * `UsageError` naming the flag otherwise); for flags whose value is a list of such values.
 *
 * @example
 * ```ts
 * flagValue({ name: "lr", type: "number", above: 0, help: "learning rate" }, "0.1"); // 0.1
 * ```
 */
export function flagValue(spec: FlagSpec, given: string | boolean): string | number | boolean {
  if (spec.type === "switch") return true;
  const text = String(given);
  if (spec.type === "string") {
    if (spec.choices && !spec.choices.includes(text)) {
      const meant = didYouMean(text, spec.choices);
      throw new UsageError(
        `--${spec.name}: expected one of ${spec.choices.join(", ")}, got "${text}"${
          meant ? ` (did you mean ${meant}?)` : ""
        }`,
      );
    }
    if (text === "") {
      throw new UsageError(`--${spec.name}: expected ${spec.value ?? "a value"}, got ""`);
    }
    return text;
  }
  if (spec.words?.includes(text)) return text;
  const number = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(number) || (spec.type === "integer" && !Number.isInteger(number))) {
    throw new UsageError(`--${spec.name}: expected ${accepted(spec)}, got "${text}"`);
  }
  const inRange = (spec.min === undefined || number >= spec.min) &&
    (spec.above === undefined || number > spec.above) &&
    (spec.below === undefined || number < spec.below) &&
    (spec.max === undefined || number <= spec.max);
  if (!inRange) throw new UsageError(`--${spec.name}: expected ${accepted(spec)}, got ${text}`);
  return number;
}

/** What a number flag accepts, in words: "an integer ≥ 1", "a number > 0 and < 1". */
function accepted(spec: FlagSpec): string {
  const bounds = [
    spec.min !== undefined ? `≥ ${spec.min}` : "",
    spec.above !== undefined ? `> ${spec.above}` : "",
    spec.below !== undefined ? `< ${spec.below}` : "",
    spec.max !== undefined ? `≤ ${spec.max}` : "",
  ].filter((b) => b !== "");
  const noun = spec.type === "integer" ? "an integer" : "a number";
  const number = bounds.length ? `${noun} ${bounds.join(" and ")}` : noun;
  return spec.words?.length ? `${spec.words.join(", ")} or ${number}` : number;
}

/**
 * `--workers -1` or `--label -1` means the value -1, but `parseArgs` would read `-1` as a flag;
 * joining the pair as `--workers=-1` lets the value's check name the real problem.
 */
function attachNegativeNumbers(args: readonly string[], specs: readonly FlagSpec[]): string[] {
  const numeric = new Set(
    specs.filter((s) => s.type !== "switch").flatMap((s) =>
      s.alias === undefined ? [`--${s.name}`] : [`--${s.name}`, `--${s.alias}`]
    ),
  );
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (numeric.has(args[i]) && /^-[\d.]/.test(args[i + 1] ?? "")) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  return joined;
}

function describeParseError(message: string, specs: readonly FlagSpec[]): string {
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
  if (unknown) {
    const meant = didYouMean(unknown[1].replace(/^-+/, ""), specs.map((s) => s.name));
    return `${unknown[1]}: unknown flag (${meant ? `did you mean --${meant}? ` : ""}see --help)`;
  }
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `${missing[1]}: a value is required`;
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    return `${ambiguous[1]}: a value is required (a value that begins with "-" is written ` +
      `${ambiguous[1]}=VALUE)`;
  }
  const positional = /Unexpected argument '([^']*)'/.exec(message);
  if (positional) {
    return `unexpected argument "${positional[1]}": every value follows its flag (see --help)`;
  }
  return message.split("\n")[0];
}

/**
 * Usage lines for both runtimes, for `helpText`: `deno task NAME ARGS`, then `bun run NAME ARGS`.
 *
 * @example
 * ```ts
 * usageLines("train", "[flags]"); // "deno task train [flags]\n       bun run train [flags]"
 * ```
 */
export function usageLines(command: string, args: string): string {
  return `deno task ${command} ${args}\n       bun run ${command} ${args}`;
}

/**
 * The `--help` text: usage lines, then each flag with its value, meaning and default.
 *
 * @example
 * ```ts
 * console.log(helpText("deno task train [flags]", "Trains the network.", specs));
 * ```
 */
export function helpText(usage: string, summary: string, specs: readonly FlagSpec[]): string {
  const left = specs.map((s) => `  --${s.name}${s.value ? ` ${s.value}` : ""}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = specs.map((s, i) => {
    const shown = s.defaultText ?? (s.default !== undefined ? String(s.default) : undefined);
    const choices = s.choices ? ` (${s.choices.join(" | ")})` : "";
    const alias = s.alias !== undefined ? ` (also --${s.alias})` : "";
    return `${left[i].padEnd(width)}${s.help}${choices}${alias}${
      shown !== undefined ? ` [default: ${shown}]` : ""
    }`;
  });
  return [
    `Usage: ${usage}`,
    "",
    summary,
    "",
    "Flags:",
    ...lines,
    `${"  -h, --help".padEnd(width)}this text`,
  ]
    .join("\n");
}

/**
 * Runs `body`, naming `flag` at the start of any `UsageError` it throws: the library names paths,
 * the command line names the flag that gave them.
 *
 * @example
 * ```ts
 * const model = underFlag("--model", () => readModelFile(path));
 * ```
 */
export function underFlag<T>(flag: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${flag}: ${e.render(optionFlag)}`);
    throw e;
  }
}
