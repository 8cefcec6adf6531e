/**
 * The subjects of the cluster protocol, after the prefix:
 * - `worker.<id>.join`, `.step`, `.leave`: a coordinator to one worker (a join and a step are
 *   requests);
 * - `run.<run>.alive`: the coordinator of a run to its workers, its heartbeat;
 * - `run.<run>.step`: the coordinator of a run to its workers, each step's `broadcast` (the batch,
 *   the parameters and every worker's blocks, once), which each worker dealt blocks answers on the
 *   reply subject it carries.
 *
 * Every subject of the cluster protocol starts with this: the project, then the protocol version.
 */
export const SUBJECT_PREFIX = "shardnet.v1";

/** What may appear in one token of a subject: no dot, wildcard or white space. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The subject `shardnet.v1.<tokens…>`. Tokens are ids and names chosen by us (run ids, worker
 * ids), so one that could change the subject's meaning (a dot, `*`, `>`, a space) is a bug.
 *
 * @example
 * ```ts
 * subject("run", "r1", "step"); // "shardnet.v1.run.r1.step"
 * ```
 */
export function subject(...tokens: string[]): string {
  for (const token of tokens) {
    if (!TOKEN.test(token)) throw new Error(`not a subject token: ${JSON.stringify(token)}`);
  }
  return [SUBJECT_PREFIX, ...tokens].join(".");
}

/**
 * Whether `id` can be a token of a subject (and a key of the presence bucket): 1–64 characters of
 * letters, digits, `_` and `-`.
 */
export function isSubjectToken(id: string): boolean {
  return TOKEN.test(id);
}
