/**
 * The cluster engine's infrastructure on NATS with JetStream: a private server for local runs,
 * connections from `nats://` URLs, the versioned message envelope, the data set in the object
 * store, and worker leases in a KV bucket.
 *
 * @example
 * ```ts
 * import { connectCluster, Membership, startNatsServer, WorkerLease } from "./mod.ts";
 *
 * await using server = await startNatsServer();
 * const nc = await connectCluster(server.url);
 * const members = await Membership.watch(nc);
 * const lease = await WorkerLease.start(nc, { name: "w", runtime: "deno", threads: 1, backends: ["js"] });
 * await members.waitFor(1, 10_000);
 * ```
 */
export { ClusterError } from "./cluster_error.ts";
export {
  type ClusterAddress,
  connectCluster,
  type ConnectClusterOptions,
  parseClusterUrl,
  redactUrl,
} from "./connection.ts";
export {
  DATA_BUCKET,
  type DatasetManifest,
  type DatasetPiece,
  DatasetPieces,
  publishDataset,
  type PublishResult,
} from "./dataset_store.ts";
export {
  type ChunkBlock,
  coveredChunks,
  type Decoded,
  decodeEnvelope,
  type DecodeExpectations,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
  type Kind,
  type Presence,
  type RejectReason,
  type StepRequest,
  type StepResult,
} from "./envelope.ts";
export {
  DEFAULT_LEASE_MS,
  type Member,
  Membership,
  type MembershipEvent,
  PRESENCE_BUCKET,
  WorkerLease,
} from "./membership.ts";
export {
  findNatsServer,
  type NatsServer,
  type NatsServerAuth,
  type NatsServerOptions,
  natsServerSearchPath,
  startNatsServer,
} from "./nats_server.ts";
export { isSubjectToken, subject, SUBJECT_PREFIX } from "./subjects.ts";
