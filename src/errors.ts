/**
 * A mistake in how the program was called (a flag, a value, a missing file): exit status 2.
 * The message is one line that names the flag and what it accepts.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Input that cannot be trained on (a malformed CSV, a model file that does not fit): exit status 1.
 * The message is one line naming the file and, where there is one, the line and column.
 */
export class DataError extends Error {
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
 * option or less data. The message names options as the library does (`hidden`, `batchSize`);
 * a command shows them as its flags with `render`.
 */
export class MemoryLimitError extends UsageError {
  override name = "MemoryLimitError";
  readonly #template: string;

  /** `template` writes each option as `{name}`. */
  constructor(template: string) {
    super(template.replace(/\{(\w+)\}/g, "$1"));
    this.#template = template;
  }

  /** The message with each option shown as `option(name)`, e.g. a flag. */
  render(option: (name: string) => string): string {
    return this.#template.replace(/\{(\w+)\}/g, (_, name: string) => option(name));
  }
}
