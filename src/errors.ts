/**
 * The library's options that its messages name. A message writes one as `{name}` (`option`
 * makes it, typed); the library shows the name as is, and a command shows the flag that sets it
 * (`cli/` maps each name to its flag), so one error reads right to both.
 */
export const OPTION_NAMES = [
  "batchSize",
  "checkpoint",
  "dtype",
  "epochs",
  "features",
  "hidden",
  "init",
  "kernelVariant",
  "label",
  "learningRate",
  "optimizer",
  "positiveLabel",
  "resume",
  "samples",
  "seed",
  "source",
  "standardize",
  "valSplit",
  "workers",
] as const;

/** One of `OPTION_NAMES`. */
export type OptionName = typeof OPTION_NAMES[number];

/**
 * Option `name` written into a message, for `renderOptions` to show.
 *
 * @example
 * ```ts
 * throw new UsageError(`${option("valSplit")} must be less than 1`);
 * ```
 */
export function option(name: OptionName): string {
  return `{${name}}`;
}

/**
 * A message with each option written `{name}` shown as `show(name)`: by default the name itself,
 * as the library says it. Braces around anything else stay as they are.
 *
 * @example
 * ```ts
 * renderOptions("{valSplit} must be less than 1"); // "valSplit must be less than 1"
 * ```
 */
export function renderOptions(
  template: string,
  show: (name: OptionName) => string = (name) => name,
): string {
  return template.replace(
    /\{(\w+)\}/g,
    (whole, name: string) =>
      (OPTION_NAMES as readonly string[]).includes(name) ? show(name as OptionName) : whole,
  );
}

/** An error whose message may name options (see `option`); `render` shows them another way. */
class OptionsError extends Error {
  readonly #template: string;

  constructor(template: string, options?: ErrorOptions) {
    super(renderOptions(template), options);
    this.#template = template;
  }

  /** The message with each option written `{name}`, to send to another thread whole. */
  get template(): string {
    return this.#template;
  }

  /** The message with each option shown as `show(name)`, e.g. the flag that sets it. */
  render(show: (name: OptionName) => string): string {
    return renderOptions(this.#template, show);
  }
}

/**
 * A mistake in how the program was called (a flag, a value, a missing file): exit status 2.
 * The message is one line that names the option and what it accepts.
 */
export class UsageError extends OptionsError {
  override name = "UsageError";
}

/**
 * Input that cannot be trained on (a malformed CSV, a model file that does not fit): exit status 1.
 * The message is one line naming the file and, where there is one, the line and column.
 */
export class DataError extends OptionsError {
  override name = "DataError";
}

/** A worker thread threw or died: exit status 1 with one line naming the worker and the cause. */
export class WorkerError extends Error {
  override name = "WorkerError";
}

/** The loss became NaN or infinite: exit status 1, naming the epoch and the likely cause. */
export class DivergenceError extends DataError {
  override name = "DivergenceError";
}

/**
 * A run that needs more memory than the machine or the 4 GiB shared-memory limit allows, found
 * from its shape before anything is allocated: exit status 2, since the remedy is always a smaller
 * option or less data. The message names options (`{hidden}`, `{batchSize}`, see `option`).
 */
export class MemoryLimitError extends UsageError {
  override name = "MemoryLimitError";
}
