import { WorkerError } from "../../errors.ts";

/**
 * The cluster cannot do what was asked: no NATS server, unreachable, refused credentials, too few
 * workers, a damaged data set in the store. One line, exit status 1, like a failing worker; the
 * message never contains credentials (URLs in it are redacted).
 *
 * @example
 * ```ts
 * throw new ClusterError("nats://***@10.0.0.1:4222: authorization refused");
 * ```
 */
export class ClusterError extends WorkerError {
  override name = "ClusterError";
}
