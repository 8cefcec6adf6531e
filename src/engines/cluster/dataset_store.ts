/**
 * The training data in NATS: the coordinator publishes the (standardized) data set to the
 * JetStream object store under its fingerprint, cut into pieces of a fixed number of rows, with a
 * manifest holding each piece's SHA-256; workers fetch only the pieces of the rows they compute,
 * check each against the manifest, and keep them in memory.
 *
 * A piece is the raw little-endian float64 bytes of its rows' features (row-major) followed by
 * their labels. Objects are named `<fingerprint>-<rowsPerPiece>/manifest` and `…/<index>`; the
 * manifest is written last, so a manifest that exists means every piece was written.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type ObjectStore, Objm, setSha256Backend } from "@nats-io/obj";
import type { Dataset } from "../../data/dataset.ts";
import { datasetFingerprint } from "../../data/fingerprint.ts";
import { ClusterError } from "./cluster_error.ts";

// The object store hashes every object it writes and reads; its default hash is written in
// JavaScript, several times slower than the runtime's own (Deno's and Bun's node:crypto).
setSha256Backend("native");

/** The object store bucket holding every published data set. */
export const DATA_BUCKET = "shardnet_data";

const MANIFEST_FORMAT = "shardnet-dataset";
const MANIFEST_VERSION = 1;
/** The object store's own digest format: `SHA-256=` and the base64url (padded) of the hash. */
const DIGEST_PREFIX = "SHA-256=";

/** What a worker needs to know about a published data set, and how to check each piece. */
export interface DatasetManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  /** `datasetFingerprint` of the whole data set. */
  readonly fingerprint: string;
  readonly samples: number;
  readonly features: number;
  readonly featureNames: readonly string[];
  /** Rows per piece; only the last piece may have fewer. */
  readonly rowsPerPiece: number;
  /** Each piece's digest, in the object store's format (`SHA-256=…`), in row order. */
  readonly pieces: readonly string[];
}

/** What publishing did: a second publication of the same data uploads nothing. */
export interface PublishResult {
  readonly manifest: DatasetManifest;
  readonly uploadedPieces: number;
  readonly uploadedBytes: number;
}

/** Rows [firstRow, firstRow + rows) of the data set. */
export interface DatasetPiece {
  readonly index: number;
  readonly firstRow: number;
  readonly rows: number;
  /** rows × features, row-major. */
  readonly x: Float64Array;
  readonly y: Float64Array;
}

function objectPrefix(fingerprint: string, rowsPerPiece: number): string {
  return `${fingerprint}-${rowsPerPiece}`;
}

function manifestName(fingerprint: string, rowsPerPiece: number): string {
  return `${objectPrefix(fingerprint, rowsPerPiece)}/manifest`;
}

function pieceName(fingerprint: string, rowsPerPiece: number, index: number): string {
  return `${objectPrefix(fingerprint, rowsPerPiece)}/${index}`;
}

/** Number of pieces of `samples` rows in pieces of `rowsPerPiece`. */
function pieceCount(samples: number, rowsPerPiece: number): number {
  return Math.ceil(samples / rowsPerPiece);
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  let binary = "";
  for (const b of hash) binary += String.fromCharCode(b);
  return DIGEST_PREFIX + btoa(binary).replaceAll("+", "-").replaceAll("/", "_");
}

/** The bytes of piece `index` of `data`: its rows' features, then their labels, float64. */
function pieceBytes(data: Dataset, rowsPerPiece: number, index: number): Uint8Array {
  const first = index * rowsPerPiece;
  const rows = Math.min(rowsPerPiece, data.samples - first);
  const out = new Float64Array(rows * (data.features + 1));
  out.set(data.x.subarray(first * data.features, (first + rows) * data.features));
  out.set(data.y.subarray(first, first + rows), rows * data.features);
  return new Uint8Array(out.buffer);
}

/** The data bucket, created on first use. */
function openBucket(nc: NatsConnection): Promise<ObjectStore> {
  return new Objm(nc).create(DATA_BUCKET);
}

/**
 * Publishes `data` under its fingerprint in pieces of `rowsPerPiece` rows, unless it is there
 * already: pieces whose stored digest matches are not uploaded again, and the manifest is written
 * only after every piece, so an interrupted publication is completed by the next one.
 *
 * @example
 * ```ts
 * const { manifest, uploadedBytes } = await publishDataset(nc, standardized, 512);
 * ```
 */
export async function publishDataset(
  nc: NatsConnection,
  data: Dataset,
  rowsPerPiece: number,
): Promise<PublishResult> {
  if (!Number.isInteger(rowsPerPiece) || rowsPerPiece < 1) {
    throw new RangeError(`rowsPerPiece must be a positive integer, not ${rowsPerPiece}`);
  }
  const fingerprint = datasetFingerprint(data);
  const os = await openBucket(nc);
  const name = manifestName(fingerprint, rowsPerPiece);
  const count = pieceCount(data.samples, rowsPerPiece);
  let uploadedPieces = 0;
  let uploadedBytes = 0;

  let manifest = await readManifest(os, fingerprint, rowsPerPiece).catch(() => null);
  if (manifest !== null && manifest.pieces.length !== count) manifest = null;
  const digests: string[] = [];
  for (let i = 0; i < count; i++) {
    const stored = await os.info(pieceName(fingerprint, rowsPerPiece, i));
    const known = manifest?.pieces[i];
    // With a manifest, a piece is intact when the store's digest is the manifest's (which the
    // store checked on upload): nothing to read or hash here.
    if (known !== undefined && stored !== null && !stored.deleted && stored.digest === known) {
      digests.push(known);
      continue;
    }
    const bytes = pieceBytes(data, rowsPerPiece, i);
    const digest = await digestOf(bytes);
    if (stored === null || stored.deleted || stored.digest !== digest) {
      await os.putBlob({ name: pieceName(fingerprint, rowsPerPiece, i) }, bytes);
      uploadedPieces++;
      uploadedBytes += bytes.byteLength;
    }
    digests.push(digest);
  }
  if (manifest === null || uploadedPieces > 0) {
    manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      fingerprint,
      samples: data.samples,
      features: data.features,
      featureNames: [...data.featureNames],
      rowsPerPiece,
      pieces: digests,
    };
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    await os.putBlob({ name }, bytes);
    uploadedBytes += bytes.byteLength;
  }
  return { manifest, uploadedPieces, uploadedBytes };
}

/** Reads and checks the manifest; null when there is none. */
async function readManifest(
  os: ObjectStore,
  fingerprint: string,
  rowsPerPiece: number,
  timeoutMs = Infinity,
): Promise<DatasetManifest | null> {
  const bytes = await readObject(os, manifestName(fingerprint, rowsPerPiece), timeoutMs);
  if (bytes === null) return null;
  const bad = (why: string): never => {
    throw new ClusterError(`data set ${fingerprint}: its manifest in the object store ${why}`);
  };
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return bad("is not JSON");
  }
  const positive = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x > 0;
  if (m === null || typeof m !== "object") bad("is not an object");
  if (m.format !== MANIFEST_FORMAT || m.version !== MANIFEST_VERSION) bad("has another format");
  if (m.fingerprint !== fingerprint || m.rowsPerPiece !== rowsPerPiece) bad("is for other data");
  if (!positive(m.samples) || !positive(m.features)) bad("has no valid shape");
  const samples = m.samples as number;
  const features = m.features as number;
  if (
    !Array.isArray(m.featureNames) || m.featureNames.length !== features ||
    !m.featureNames.every((n) => typeof n === "string")
  ) bad("has no valid feature names");
  if (
    !Array.isArray(m.pieces) || m.pieces.length !== pieceCount(samples, rowsPerPiece) ||
    !m.pieces.every((d) => typeof d === "string" && d.startsWith(DIGEST_PREFIX))
  ) bad("has no valid piece list");
  return m as unknown as DatasetManifest;
}

/**
 * A published data set as a worker sees it: the manifest, and pieces fetched on demand, checked
 * against the manifest and kept until released.
 *
 * @example
 * ```ts
 * const store = await DatasetPieces.open(nc, fingerprint, 512);
 * const piece = await store.piece(store.pieceOf(row));
 * ```
 */
export class DatasetPieces {
  readonly #os: ObjectStore;
  readonly #cache = new Map<number, Promise<DatasetPiece>>();
  #cachedBytes = 0;
  readonly #fetchTimeoutMs: number;

  private constructor(os: ObjectStore, readonly manifest: DatasetManifest, fetchTimeoutMs: number) {
    this.#os = os;
    this.#fetchTimeoutMs = fetchTimeoutMs;
  }

  /**
   * Opens the data set published under `fingerprint` in pieces of `rowsPerPiece` rows; a
   * `ClusterError` when it is not there or its manifest is damaged. The manifest or a piece not
   * read within `fetchTimeoutMs` (the server or the link gone quiet) fails; a piece is then fetched
   * anew when next asked for.
   */
  static async open(
    nc: NatsConnection,
    fingerprint: string,
    rowsPerPiece: number,
    fetchTimeoutMs = Infinity,
  ): Promise<DatasetPieces> {
    const os = await openBucket(nc);
    const manifest = await readManifest(os, fingerprint, rowsPerPiece, fetchTimeoutMs);
    if (manifest === null) {
      throw new ClusterError(
        `data set ${fingerprint} (pieces of ${rowsPerPiece} rows) is not in the object store`,
      );
    }
    return new DatasetPieces(os, manifest, fetchTimeoutMs);
  }

  /** The number of pieces. */
  get pieces(): number {
    return this.manifest.pieces.length;
  }

  /** The piece holding row `row`. */
  pieceOf(row: number): number {
    return Math.floor(row / this.manifest.rowsPerPiece);
  }

  /** Bytes of the pieces held in memory. */
  get cachedBytes(): number {
    return this.#cachedBytes;
  }

  /** Indices of the pieces held (or being fetched), in increasing order. */
  cached(): number[] {
    return [...this.#cache.keys()].sort((a, b) => a - b);
  }

  /**
   * Piece `index`, fetched once and then served from memory. A piece whose bytes do not match
   * the manifest (damaged in the store or in transit) is a `ClusterError`, and is not kept.
   */
  piece(index: number): Promise<DatasetPiece> {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieces) {
      return Promise.reject(new RangeError(`no piece ${index} of ${this.pieces}`));
    }
    let held = this.#cache.get(index);
    if (held === undefined) {
      held = this.#fetch(index);
      this.#cache.set(index, held);
      const fetching = held;
      fetching.catch(() => {
        if (this.#cache.get(index) === fetching) this.#cache.delete(index);
      });
    }
    return held;
  }

  /** Forgets piece `index` (a worker that no longer computes its rows). */
  release(index: number): void {
    const held = this.#cache.get(index);
    if (held === undefined) return;
    this.#cache.delete(index);
    held.then((p) => this.#cachedBytes -= 8 * (p.x.length + p.y.length), () => {});
  }

  /**
   * The whole data set, every piece fetched and checked, and the assembled rows checked against
   * the fingerprint (mini-batch training reads all rows).
   */
  async all(): Promise<Dataset> {
    const { samples, features, featureNames, fingerprint } = this.manifest;
    const x = new Float64Array(samples * features);
    const y = new Float64Array(samples);
    for (let i = 0; i < this.pieces; i++) {
      const p = await this.piece(i);
      x.set(p.x, p.firstRow * features);
      y.set(p.y, p.firstRow);
    }
    const data: Dataset = { x, y, samples, features, featureNames };
    if (datasetFingerprint(data) !== fingerprint) {
      throw new ClusterError(
        `data set ${fingerprint}: the assembled rows have another fingerprint`,
      );
    }
    return data;
  }

  async #fetch(index: number): Promise<DatasetPiece> {
    const { fingerprint, rowsPerPiece, samples, features } = this.manifest;
    const name = pieceName(fingerprint, rowsPerPiece, index);
    const damaged = (why: string) =>
      new ClusterError(`data set ${fingerprint}: piece ${index} ${why}; publish the data again`);
    let bytes: Uint8Array | null;
    try {
      bytes = await readObject(this.#os, name, this.#fetchTimeoutMs);
    } catch (e) {
      // The client checks the store's own digest while reading; a mismatch lands here.
      throw damaged(`cannot be read (${String((e as Error)?.message ?? e).split("\n")[0]})`);
    }
    if (bytes === null) throw damaged("is missing from the object store");
    const firstRow = index * rowsPerPiece;
    const rows = Math.min(rowsPerPiece, samples - firstRow);
    if (bytes.byteLength !== 8 * rows * (features + 1)) {
      throw damaged(`has ${bytes.byteLength} bytes, not ${8 * rows * (features + 1)}`);
    }
    if (await digestOf(bytes) !== this.manifest.pieces[index]) {
      throw damaged("does not match its digest in the manifest");
    }
    // An own, aligned buffer (the client's may be shared or unaligned).
    const values = new Float64Array(rows * (features + 1));
    new Uint8Array(values.buffer).set(bytes);
    this.#cachedBytes += values.byteLength;
    return {
      index,
      firstRow,
      rows,
      x: values.subarray(0, rows * features),
      y: values.subarray(rows * features),
    };
  }
}

/**
 * The bytes of object `name` (null when there is none), like `getBlob`, but given up after
 * `timeoutMs`: the object store's reader waits for its chunks for as long as they take, so a
 * server or link gone quiet mid-read would otherwise hold the caller for ever. Giving up cancels
 * the read, which stops its consumer.
 */
async function readObject(
  os: ObjectStore,
  name: string,
  timeoutMs: number,
): Promise<Uint8Array | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let gaveUp = false;
  let cancel = () => {};
  const expired = new Promise<never>((_, reject) => {
    if (timeoutMs === Infinity) return;
    timer = setTimeout(() => {
      gaveUp = true;
      cancel();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const read = (async () => {
    const r = await os.get(name);
    if (r === null) return null;
    const reader = r.data.getReader();
    cancel = () => reader.cancel().catch(() => {});
    if (gaveUp) cancel();
    const parts: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value && value.length > 0) {
        parts.push(value);
        length += value.length;
      }
    }
    const failed = await r.error;
    if (failed) throw failed;
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return bytes;
  })();
  read.catch(() => {});
  try {
    return await Promise.race([read, expired]);
  } finally {
    clearTimeout(timer);
  }
}
