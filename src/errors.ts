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
