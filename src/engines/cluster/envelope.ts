/**
 * The one wire format of the cluster: a MessagePack envelope `{v, kind, run, step?, from, body}`
 * around a body whose shape the kind fixes. Whatever arrives on a subject — from a worker, from a
 * stale process, from an attacker — goes through `decodeEnvelope`, which never throws: it returns
 * either the typed envelope or a rejection reason the engine counts per kind and drops.
 *
 * Float vectors travel as their raw little-endian bytes (so every bit, NaN payloads included,
 * arrives as sent) beside their dtype; the element count follows from the byte length, and is
 * checked against what the receiver expects.
 */
import { Packr, Unpackr } from "msgpackr";
import { allFinite, type Dtype, type Floats } from "../../dtype.ts";
import type { RunSpec } from "../../core/run_spec.ts";
import { isSubjectToken } from "./subjects.ts";

/**
 * The envelope's format version; a receiver rejects every other. 2: a step's parameters go to all
 * the workers of a run in one `broadcast`, which a worker of version 1 would never hear.
 */
export const ENVELOPE_VERSION = 2;

// Typed arrays' bytes are sent as they are in memory; that is little-endian on every machine this
// project runs on (x86-64, ARM64), and a big-endian one would compute garbage silently.
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) {
  throw new Error("the cluster protocol needs a little-endian machine");
}

/**
 * An aligned block of chunks `[first, first + span)`: `span` is a power of two and `first` a
 * multiple of it, so blocks are the nodes of one fixed pairwise tree over a batch's chunks. A block
 * may reach past the batch's last chunk (the tree is over the next power of two); it then covers
 * the chunks that exist.
 */
export interface ChunkBlock {
  readonly first: number;
  readonly span: number;
}

/** A step's batch and the parameters to compute it at. */
export interface StepBatch {
  readonly dtype: Dtype;
  /** The parameters of this step (P floats). */
  readonly params: Floats;
  /** The batch: positions [begin, end) of the epoch's order of the training rows. */
  readonly begin: number;
  readonly end: number;
  /**
   * The training rows of the batch (end − begin indices) when the epoch's order is shuffled
   * (mini-batch); null when position i is row i (full batch).
   */
  readonly rows: Uint32Array | null;
  /** Rows per chunk; chunk c is positions [begin + c·chunkRows, …) of the batch. */
  readonly chunkRows: number;
}

/** Coordinator → one worker: compute these blocks of this batch at these parameters. */
export interface StepRequest extends StepBatch {
  /** The blocks this worker computes, in increasing order, disjoint. */
  readonly blocks: readonly ChunkBlock[];
}

/** One worker's share of a broadcast step. */
export interface Deal {
  /** The worker's id. */
  readonly worker: string;
  /** Its blocks, as a `StepRequest`'s. */
  readonly blocks: readonly ChunkBlock[];
}

/**
 * Coordinator → every worker of its run, once per step: the batch and parameters, and which
 * blocks each worker computes; one worker's blocks never overlap another's. Each worker dealt
 * blocks answers with a `result`, as to a `StepRequest` of its blocks.
 */
export interface BroadcastStep extends StepBatch {
  /** In no particular order, each worker once; a worker not listed computes nothing. */
  readonly deals: readonly Deal[];
}

/** Worker → coordinator, the reply to one step request, or to its blocks of a broadcast. */
export interface StepResult {
  readonly dtype: Dtype;
  /** The blocks computed, as requested. */
  readonly blocks: readonly ChunkBlock[];
  /** The batch's chunk count (to tell which chunks of an edge block exist). */
  readonly chunks: number;
  /** One P-vector per block: the sum of the partial gradients of its chunks, in tree order. */
  readonly sums: Floats;
  /** Per chunk of the blocks, in order: [loss sum, correct count] as float64. */
  readonly stats: Float64Array;
  /** Milliseconds spent computing, and waiting for data pieces. */
  readonly computeMs: number;
  readonly dataMs: number;
}

/** A worker process's entry in the presence bucket. */
export interface Presence {
  /** A name for people (the host, or `--name`). */
  readonly name: string;
  /** e.g. "deno 2.9.6". */
  readonly runtime: string;
  /** Worker threads in the process. */
  readonly threads: number;
  /** Kernel backends it can run (e.g. "js", "wasm", "blas"). */
  readonly backends: readonly string[];
}

/**
 * Coordinator → worker: serve run `run`, whose arithmetic `spec` fixes, on data published under
 * `spec.dataFingerprint` in pieces of `spec.chunkRows` rows; give up on the run when the
 * coordinator has not been heard from for `timeoutMs`.
 */
export interface JoinRequest {
  readonly spec: RunSpec;
  readonly timeoutMs: number;
}

/** Worker → coordinator, the reply to a join: whether it serves the run, and if not why. */
export interface JoinReply {
  readonly accepted: boolean;
  /** Why not, in one line for the coordinator's log; "" when accepted. */
  readonly note: string;
  /**
   * `kernelIdentity` of the run's backend, variant and dtype on this worker ("" when declined):
   * equal to the coordinator's when the two compute the same bits.
   */
  readonly identity: string;
}

/**
 * How a worker's note begins when it declines because it serves another run: a refusal for now,
 * not for good (the run is asked again once the worker is idle).
 */
export const BUSY_NOTE = "busy with run ";

/** Coordinator → its workers: the run goes on (`alive`), or is over (`leave`). */
export type RunSignal = Record<string, never>;

interface Bodies {
  step: StepRequest;
  broadcast: BroadcastStep;
  result: StepResult;
  presence: Presence;
  join: JoinRequest;
  joined: JoinReply;
  alive: RunSignal;
  leave: RunSignal;
}

/** The kinds of message there are. */
export type Kind = keyof Bodies;

/** The envelope of a message of kind `K`. `run` is "" where no run is concerned (presence). */
export type Envelope<K extends Kind = Kind> = K extends Kind ? {
    readonly v: typeof ENVELOPE_VERSION;
    readonly kind: K;
    readonly run: string;
    /** The step (1-based) for steps, broadcasts and results; absent otherwise. */
    readonly step?: number;
    /** The sender's id. */
    readonly from: string;
    readonly body: Bodies[K];
  }
  : never;

/** Why a message was dropped. */
export type RejectReason =
  /** Larger than the receiver accepts. */
  | "oversize"
  /** Not exactly one MessagePack value. */
  | "not_msgpack"
  /** Not a map with the envelope's fields of the right types. */
  | "not_envelope"
  /** Another version of the protocol. */
  | "version"
  /** A kind this version does not have. */
  | "kind"
  /** A body with missing fields, wrong types, or sizes that do not fit. */
  | "shape"
  /** NaN or an infinity where the protocol requires finite numbers. */
  | "non_finite";

export type Decoded =
  | { readonly ok: true; readonly envelope: Envelope }
  | {
    readonly ok: false;
    readonly reason: RejectReason;
    /** The message's kind when it could be read (for counting per kind). */
    readonly kind?: string;
    /** What exactly was wrong, for a log line. */
    readonly detail: string;
  };

/** What the receiver knows that a message must agree with. */
export interface DecodeExpectations {
  /** The largest message accepted, in bytes (default 64 MiB, NATS's own ceiling). */
  readonly maxBytes?: number;
  /** The run's parameter count P: every float vector of parameters must have this many. */
  readonly paramCount?: number;
  /**
   * Where to copy the message's float vectors and row list, instead of fresh memory: what is
   * decoded with it lives until it is used again.
   */
  readonly reuse?: DecodeBuffers;
}

/**
 * Memory that decoded vectors are copied into, kept from one message to the next. Fresh memory of
 * tens of kilobytes per message costs more than the copy (page faults: allocators hand freed
 * memory back to the system between steps). One per stream of messages whose decoded contents
 * are done with before the next arrives: a worker's steps, one worker's results.
 *
 * @example
 * ```ts
 * const reuse = new DecodeBuffers();
 * const d = decodeEnvelope(msg.data, { paramCount: 16449, reuse });
 * ```
 */
export class DecodeBuffers {
  readonly #buffers = new Map<string, ArrayBuffer>();

  /** At least `byteLength` bytes for the field `name`, the same memory as last time if enough. */
  take(name: string, byteLength: number): ArrayBuffer {
    let buffer = this.#buffers.get(name);
    if (buffer === undefined || buffer.byteLength < byteLength) {
      buffer = new ArrayBuffer(byteLength);
      this.#buffers.set(name, buffer);
    }
    return buffer;
  }
}

const DEFAULT_MAX_BYTES = 64 << 20;
/** Ids, names and the like: short strings. */
const MAX_ID_LENGTH = 64;
const MAX_NAME_LENGTH = 256;
const MAX_BACKENDS = 16;
const MAX_THREADS = 4096;
/** The most workers one broadcast deals to. */
export const MAX_DEALS = 4096;

// Plain MessagePack maps, bins and numbers, readable by any MessagePack implementation.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

/** The bytes of a typed array (a view, no copy). */
function bytesOf(a: Floats | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Room beyond a message's vectors for the rest of it: ids, numbers, blocks, field names. */
const HEADER_ROOM = 4096;
/** The encoder's own memory after a message encoded into an `EncodeBuffer`. */
const OWN_BYTES = 8192;

/**
 * Memory one stream of messages is encoded into, kept from one message to the next (fresh memory
 * costs page faults, as for `DecodeBuffers`). What `encodeEnvelope` returns with it is rewritten by
 * its next use, so it is for a stream whose message is handed to the connection, which copies it
 * out when it flushes, before the next is encoded: a worker's results, the steps sent to one
 * worker (the next follows its answer).
 *
 * @example
 * ```ts
 * const reuse = new EncodeBuffer();
 * msg.respond(encodeEnvelope(result, reuse));
 * ```
 */
export class EncodeBuffer {
  #bytes = new Uint8Array(0);

  /** At least `byteLength` bytes, the same memory as last time if enough. */
  take(byteLength: number): Uint8Array {
    if (this.#bytes.byteLength < byteLength) this.#bytes = new Uint8Array(byteLength);
    return this.#bytes;
  }
}

/**
 * The MessagePack bytes of `envelope`, typed arrays sent as raw bytes; in `reuse`'s memory when
 * given (else in memory no later encoding writes over).
 *
 * @example
 * ```ts
 * const bytes = encodeEnvelope({ v: 2, kind: "presence", run: "", from: "w1", body: presence });
 * ```
 */
export function encodeEnvelope(envelope: Envelope, reuse?: EncodeBuffer): Uint8Array {
  const { v, kind, run, step, from } = envelope;
  let body: Record<string, unknown>;
  let vectorBytes = 0;
  switch (envelope.kind) {
    case "step": {
      const b = envelope.body;
      body = { ...batchFields(b), blocks: blockPairs(b.blocks) };
      vectorBytes = b.params.byteLength + (b.rows?.byteLength ?? 0) + 16 * b.blocks.length;
      break;
    }
    case "broadcast": {
      const b = envelope.body;
      body = { ...batchFields(b), deals: b.deals.map((d) => [d.worker, blockPairs(d.blocks)]) };
      vectorBytes = b.params.byteLength + (b.rows?.byteLength ?? 0);
      // An id of up to 64 characters and its blocks, with their headers.
      for (const d of b.deals) vectorBytes += 80 + 16 * d.blocks.length;
      break;
    }
    case "result": {
      const b = envelope.body;
      body = {
        dtype: b.dtype,
        blocks: blockPairs(b.blocks),
        chunks: b.chunks,
        sums: bytesOf(b.sums),
        stats: bytesOf(b.stats),
        computeMs: b.computeMs,
        dataMs: b.dataMs,
      };
      vectorBytes = b.sums.byteLength + b.stats.byteLength + 16 * b.blocks.length;
      break;
    }
    case "presence": {
      const b = envelope.body;
      body = { name: b.name, runtime: b.runtime, threads: b.threads, backends: [...b.backends] };
      break;
    }
    case "join":
      body = { spec: { ...envelope.body.spec }, timeoutMs: envelope.body.timeoutMs };
      break;
    case "joined":
      body = {
        accepted: envelope.body.accepted,
        note: envelope.body.note,
        identity: envelope.body.identity,
      };
      break;
    case "alive":
    case "leave":
      body = {};
      break;
  }
  const value = step === undefined
    ? { v, kind, run, from, body }
    : { v, kind, run, step, from, body };
  if (reuse === undefined) return packr.pack(value);
  // The encoder writes each message after the last in its current memory, and returns a view:
  // pointed at `reuse` for this message, it is given memory of its own again after it, so that no
  // other message lands in `reuse`.
  packr.useBuffer(reuse.take(vectorBytes + HEADER_ROOM));
  try {
    return packr.pack(value);
  } finally {
    packr.useBuffer(new Uint8Array(OWN_BYTES));
  }
}

/** The fields of a `StepBatch` as they are packed. */
function batchFields(b: StepBatch): Record<string, unknown> {
  return {
    dtype: b.dtype,
    params: bytesOf(b.params),
    begin: b.begin,
    end: b.end,
    rows: b.rows === null ? null : bytesOf(b.rows),
    chunkRows: b.chunkRows,
  };
}

function blockPairs(blocks: readonly ChunkBlock[]): [number, number][] {
  return blocks.map(({ first, span }) => [first, span]);
}

/** Thrown inside the validators only, caught in `decodeEnvelope`. */
class Reject {
  constructor(readonly reason: RejectReason, readonly detail: string) {}
}

function fail(reason: RejectReason, detail: string): never {
  throw new Reject(reason, detail);
}

type Fields = Record<string, unknown>;

function isMap(x: unknown): x is Fields {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function field(map: Fields, name: string): unknown {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

function integer(map: Fields, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = field(map, name);
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
    fail("shape", `${name} is not an integer in [${min}, ${max}]`);
  }
  return x;
}

function finiteNonNegative(map: Fields, name: string): number {
  const x = field(map, name);
  if (typeof x !== "number") fail("shape", `${name} is not a number`);
  if (!Number.isFinite(x)) fail("non_finite", `${name} is ${x}`);
  if (x < 0) fail("shape", `${name} is negative`);
  return x;
}

function text(map: Fields, name: string, maxLength: number, minLength = 1): string {
  const x = field(map, name);
  if (typeof x !== "string" || x.length < minLength || x.length > maxLength) {
    fail("shape", `${name} is not a string of ${minLength}–${maxLength} characters`);
  }
  return x;
}

function dtypeOf(map: Fields): Dtype {
  const x = field(map, "dtype");
  if (x !== "f32" && x !== "f64") fail("shape", "dtype is neither f32 nor f64");
  return x;
}

/**
 * A copy of `bytes` at the start of an aligned buffer (fresh, or `name`'s in `reuse`), so that
 * typed views are aligned and do not share the message's memory.
 */
function aligned(bytes: Uint8Array, name: string, reuse: DecodeBuffers | undefined): ArrayBuffer {
  const copy = reuse?.take(name, bytes.byteLength) ?? new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy, 0, bytes.byteLength).set(bytes);
  return copy;
}

function binary(map: Fields, name: string): Uint8Array {
  const x = field(map, name);
  if (!(x instanceof Uint8Array)) fail("shape", `${name} is not binary`);
  return x;
}

/** The float vector `name` of `dtype`, with exactly `count` elements when given. */
function floats(
  map: Fields,
  name: string,
  dtype: Dtype,
  count: number | undefined,
  reuse: DecodeBuffers | undefined,
): Floats {
  const bytes = binary(map, name);
  const size = dtype === "f32" ? 4 : 8;
  if (bytes.byteLength % size !== 0) fail("shape", `${name} is not a whole number of ${dtype}`);
  const n = bytes.byteLength / size;
  if (count !== undefined && n !== count) fail("shape", `${name} has ${n} elements, not ${count}`);
  const buffer = aligned(bytes, name, reuse);
  return dtype === "f32" ? new Float32Array(buffer, 0, n) : new Float64Array(buffer, 0, n);
}

function blocks(map: Fields, chunks: number): ChunkBlock[] {
  return blockList(field(map, "blocks"), chunks);
}

/** `list` as increasing, disjoint aligned blocks that start inside a batch of `chunks` chunks. */
function blockList(list: unknown, chunks: number): ChunkBlock[] {
  // Disjoint blocks that start inside the batch are at most as many as its chunks.
  if (!Array.isArray(list) || list.length === 0) fail("shape", "blocks is not a list of blocks");
  const result: ChunkBlock[] = [];
  let next = 0;
  for (const b of list) {
    if (!Array.isArray(b) || b.length !== 2) fail("shape", "a block is not [first, span]");
    const [first, span] = b;
    if (
      typeof first !== "number" || typeof span !== "number" || !Number.isInteger(first) ||
      !Number.isInteger(span) || span < 1 || span > 2 ** 30 || (span & (span - 1)) !== 0 ||
      first < next || first % span !== 0 || first >= chunks
    ) {
      fail("shape", `block [${first}, ${span}] is not an aligned block after the previous one`);
    }
    result.push({ first, span });
    next = first + span;
  }
  return result;
}

/** How many existing chunks `blocks` cover in a batch of `chunks` chunks. */
export function coveredChunks(list: readonly ChunkBlock[], chunks: number): number {
  let n = 0;
  for (const { first, span } of list) n += Math.max(0, Math.min(span, chunks - first));
  return n;
}

function stepBody(b: Fields, expect: DecodeExpectations): StepRequest {
  const batch = batchBody(b, expect);
  return { ...batch, blocks: blocks(b, chunksOf(batch)) };
}

function chunksOf(b: StepBatch): number {
  return Math.ceil((b.end - b.begin) / b.chunkRows);
}

/**
 * The deals of a broadcast: 1 to `MAX_DEALS` workers, at most one per chunk of the batch (each is
 * dealt a block), each once, each with a valid block list, no two blocks overlapping.
 */
function broadcastBody(b: Fields, expect: DecodeExpectations): BroadcastStep {
  const batch = batchBody(b, expect);
  const chunks = chunksOf(batch);
  const list = field(b, "deals");
  if (!Array.isArray(list) || list.length === 0 || list.length > Math.min(chunks, MAX_DEALS)) {
    fail("shape", `deals is not a list of 1–${Math.min(chunks, MAX_DEALS)} deals`);
  }
  const deals: Deal[] = [];
  const workers = new Set<string>();
  for (const d of list) {
    if (!Array.isArray(d) || d.length !== 2) fail("shape", "a deal is not [worker, blocks]");
    const [worker, dealt] = d;
    if (typeof worker !== "string" || !isSubjectToken(worker)) {
      fail("shape", "a deal's worker is not an id");
    }
    if (workers.has(worker)) fail("shape", `worker ${worker} is dealt twice`);
    workers.add(worker);
    deals.push({ worker, blocks: blockList(dealt, chunks) });
  }
  const all = deals.flatMap((d) => d.blocks).sort((x, y) => x.first - y.first);
  for (let i = 1; i < all.length; i++) {
    if (all[i].first < all[i - 1].first + all[i - 1].span) {
      fail("shape", `block [${all[i].first}, ${all[i].span}] is dealt to two workers`);
    }
  }
  return { ...batch, deals };
}

function batchBody(b: Fields, expect: DecodeExpectations): StepBatch {
  const dtype = dtypeOf(b);
  const params = floats(b, "params", dtype, expect.paramCount, expect.reuse);
  if (params.length === 0) fail("shape", "params is empty");
  if (!allFinite(params)) fail("non_finite", "params has a NaN or an infinity");
  const begin = integer(b, "begin", 0);
  const end = integer(b, "end", begin + 1);
  const chunkRows = integer(b, "chunkRows", 1, 1 << 24);
  const rowsField = field(b, "rows");
  let rows: Uint32Array | null = null;
  if (rowsField !== null) {
    const bytes = binary(b, "rows");
    if (bytes.byteLength !== 4 * (end - begin)) {
      fail("shape", `rows has ${bytes.byteLength} bytes, not 4 × ${end - begin}`);
    }
    rows = new Uint32Array(aligned(bytes, "rows", expect.reuse), 0, end - begin);
  }
  return { dtype, params, begin, end, rows, chunkRows };
}

function resultBody(b: Fields, expect: DecodeExpectations): StepResult {
  const dtype = dtypeOf(b);
  const chunks = integer(b, "chunks", 1, 1 << 30);
  const list = blocks(b, chunks);
  // A diverging model gives non-finite sums and losses on every worker alike: that is the
  // engine's to judge, not a malformed message.
  const count = expect.paramCount === undefined ? undefined : expect.paramCount * list.length;
  const sums = floats(b, "sums", dtype, count, expect.reuse);
  if (sums.length === 0 || sums.length % list.length !== 0) {
    fail("shape", `sums has ${sums.length} elements, not a P-vector for each of ${list.length}`);
  }
  const stats = floats(
    b,
    "stats",
    "f64",
    2 * coveredChunks(list, chunks),
    expect.reuse,
  ) as Float64Array;
  for (let i = 1; i < stats.length; i += 2) {
    if (!Number.isFinite(stats[i])) fail("non_finite", `a correct count is ${stats[i]}`);
    if (!Number.isInteger(stats[i]) || stats[i] < 0) {
      fail("shape", "a correct count is not a count");
    }
  }
  return {
    dtype,
    blocks: list,
    chunks,
    sums,
    stats,
    computeMs: finiteNonNegative(b, "computeMs"),
    dataMs: finiteNonNegative(b, "dataMs"),
  };
}

const BACKENDS = ["js", "wasm", "blas"] as const;

function specBody(b: Fields): RunSpec {
  const backend = field(b, "backend");
  if (!BACKENDS.includes(backend as typeof BACKENDS[number])) {
    fail("shape", "backend is not js, wasm or blas");
  }
  const samples = integer(b, "samples", 1, 2 ** 31 - 1);
  return {
    dtype: dtypeOf(b),
    features: integer(b, "features", 1, 1 << 24),
    hidden: integer(b, "hidden", 1, 1 << 24),
    samples,
    batchSize: integer(b, "batchSize", 1, samples),
    chunkRows: integer(b, "chunkRows", 1, 1 << 24),
    backend: backend as RunSpec["backend"],
    kernelVariant: variantOf(b),
    dataFingerprint: text(b, "dataFingerprint", MAX_NAME_LENGTH),
  };
}

function variantOf(b: Fields): RunSpec["kernelVariant"] {
  const x = field(b, "kernelVariant");
  if (x !== null && x !== "relaxed" && x !== "plain") {
    fail("shape", "kernelVariant is neither relaxed, plain nor null");
  }
  return x;
}

function joinBody(b: Fields): JoinRequest {
  const spec = field(b, "spec");
  if (!isMap(spec)) fail("shape", "spec is not a map");
  return { spec: specBody(spec), timeoutMs: integer(b, "timeoutMs", 1, 24 * 3600 * 1000) };
}

function joinedBody(b: Fields): JoinReply {
  const accepted = field(b, "accepted");
  if (typeof accepted !== "boolean") fail("shape", "accepted is not a boolean");
  return {
    accepted,
    note: text(b, "note", MAX_NAME_LENGTH, 0),
    identity: text(b, "identity", MAX_ID_LENGTH, 0),
  };
}

function presenceBody(b: Fields): Presence {
  const backends = field(b, "backends");
  if (
    !Array.isArray(backends) || backends.length > MAX_BACKENDS ||
    !backends.every((x) => typeof x === "string" && x.length >= 1 && x.length <= MAX_ID_LENGTH)
  ) {
    fail("shape", "backends is not a list of names");
  }
  return {
    name: text(b, "name", MAX_NAME_LENGTH),
    runtime: text(b, "runtime", MAX_NAME_LENGTH),
    threads: integer(b, "threads", 1, MAX_THREADS),
    backends: backends as string[],
  };
}

/**
 * Reads and validates one message. Never throws: anything wrong — bytes that are not MessagePack,
 * a foreign version, an unknown kind, a field of the wrong type or size, a non-finite number where
 * the protocol needs finite ones, a message larger than `maxBytes` — gives `{ok: false, reason}`.
 * Float vectors come back as aligned typed arrays of their own memory, or of `expect.reuse`'s.
 *
 * @example
 * ```ts
 * const d = decodeEnvelope(msg.data, { paramCount: 16449 });
 * if (!d.ok) dropped.count(d.kind ?? "?", d.reason);
 * ```
 */
export function decodeEnvelope(bytes: Uint8Array, expect: DecodeExpectations = {}): Decoded {
  let kind: string | undefined;
  try {
    const maxBytes = expect.maxBytes ?? DEFAULT_MAX_BYTES;
    if (bytes.byteLength > maxBytes) fail("oversize", `${bytes.byteLength} bytes > ${maxBytes}`);
    let value: unknown;
    try {
      value = unpackr.unpack(bytes);
    } catch (e) {
      fail("not_msgpack", String((e as Error)?.message ?? e).split("\n")[0]);
    }
    if (!isMap(value)) fail("not_envelope", "not a map");
    const k = field(value, "kind");
    if (typeof k === "string") kind = k.slice(0, MAX_ID_LENGTH);
    if (field(value, "v") !== ENVELOPE_VERSION) {
      fail("version", `version ${String(field(value, "v")).slice(0, 20)}`);
    }
    if (typeof k !== "string") fail("not_envelope", "kind is not a string");
    const run = field(value, "run");
    const from = field(value, "from");
    const step = field(value, "step");
    const body = field(value, "body");
    if (typeof run !== "string" || (run !== "" && !isSubjectToken(run))) {
      fail("not_envelope", "run is not an id");
    }
    if (typeof from !== "string" || !isSubjectToken(from)) {
      fail("not_envelope", "from is not an id");
    }
    if (
      step !== undefined &&
      (typeof step !== "number" || !Number.isSafeInteger(step) || step < 1)
    ) {
      fail("not_envelope", "step is not a positive integer");
    }
    if (!isMap(body)) fail("not_envelope", "body is not a map");
    const header = { v: ENVELOPE_VERSION, run, from } as const;
    switch (k) {
      case "step":
      case "broadcast":
      case "result": {
        if (run === "") fail("not_envelope", `a ${k} message without a run`);
        if (step === undefined) fail("not_envelope", `a ${k} message without a step`);
        const envelope = k === "step"
          ? { ...header, kind: k, step, body: stepBody(body, expect) }
          : k === "broadcast"
          ? { ...header, kind: k, step, body: broadcastBody(body, expect) }
          : { ...header, kind: k, step, body: resultBody(body, expect) };
        return { ok: true, envelope };
      }
      case "presence":
        return { ok: true, envelope: { ...header, kind: k, body: presenceBody(body) } };
      case "join":
      case "joined":
      case "alive":
      case "leave": {
        if (run === "") fail("not_envelope", `a ${k} message without a run`);
        const envelope = k === "join"
          ? { ...header, kind: k, body: joinBody(body) }
          : k === "joined"
          ? { ...header, kind: k, body: joinedBody(body) }
          : { ...header, kind: k, body: {} };
        return { ok: true, envelope };
      }
      default:
        return fail("kind", `unknown kind ${JSON.stringify(kind)}`);
    }
  } catch (e) {
    if (e instanceof Reject) return { ok: false, reason: e.reason, kind, detail: e.detail };
    // A validator's own bug must not escape the subscription either; say what it was.
    return { ok: false, reason: "not_envelope", kind, detail: `unexpected: ${String(e)}` };
  }
}

/**
 * The sender (`from`) of a message of this version, read without validating its body; null when
 * it is larger than `maxBytes` or has no such sender. For replies that share one subject: the
 * sender's memory is chosen before `decodeEnvelope` validates the message into it. Never throws.
 *
 * @example
 * ```ts
 * const from = senderOf(msg.data, 1 << 20);
 * ```
 */
export function senderOf(bytes: Uint8Array, maxBytes: number): string | null {
  if (bytes.byteLength > maxBytes) return null;
  try {
    // Binary fields are views of `bytes`: reading the envelope copies none of its vectors.
    const value: unknown = unpackr.unpack(bytes);
    if (!isMap(value) || field(value, "v") !== ENVELOPE_VERSION) return null;
    const from = field(value, "from");
    return typeof from === "string" && isSubjectToken(from) ? from : null;
  } catch {
    return null;
  }
}
