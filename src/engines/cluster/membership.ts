/**
 * Which worker processes are there: each keeps a lease in a JetStream KV bucket whose entries
 * expire after the bucket's TTL, renewing it every TTL/3 and deleting it when it leaves; the
 * coordinator watches the bucket, sees joins and leaves as they happen, and counts a worker whose
 * lease was not renewed for a TTL as gone (killed, its host down, its link cut).
 *
 * The server removes expired entries silently (NATS 2.9 writes no marker), so the watcher keeps
 * its own clock per worker: the time it last saw the lease renewed, on its own clock, so that no
 * two hosts' clocks are ever compared.
 */
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { ClusterError } from "./cluster_error.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
  type Presence,
  type RejectReason,
} from "./envelope.ts";
import { isSubjectToken } from "./subjects.ts";

/** The KV bucket of worker leases; its TTL is the lease's length. */
export const PRESENCE_BUCKET = "shardnet_workers";
/** A lease's length when the bucket is created; renewals come every third of it. */
export const DEFAULT_LEASE_MS = 3_000;

/** A worker process as its lease describes it. */
export interface Member extends Presence {
  /** Its id: the bucket key and the `from` of its messages. */
  readonly id: string;
  /** The run it serves, or "" when idle. */
  readonly run: string;
}

/** A change in membership, in the order seen. */
export type MembershipEvent =
  | { readonly type: "join"; readonly member: Member }
  /** The member's lease changed (it began or finished serving a run). */
  | { readonly type: "update"; readonly member: Member }
  /** `expired`: not renewed for a lease's length; `left`: deleted by the worker as it stopped. */
  | { readonly type: "leave"; readonly member: Member; readonly why: "left" | "expired" };

/**
 * Opens the presence bucket, creating it with a TTL of `leaseMs` when it does not exist yet; the
 * lease length is then the bucket's, whoever created it (a bucket's TTL is fixed at creation).
 */
async function openBucket(nc: NatsConnection, leaseMs: number): Promise<{ kv: KV; ttl: number }> {
  const kvm = new Kvm(nc);
  let kv: KV;
  let ttl: number;
  try {
    kv = await kvm.open(PRESENCE_BUCKET);
    ttl = (await kv.status()).ttl;
  } catch {
    kv = await kvm.create(PRESENCE_BUCKET, { ttl: leaseMs, history: 1 });
    ttl = (await kv.status()).ttl;
  }
  if (!(ttl > 0)) {
    throw new ClusterError(`the KV bucket ${PRESENCE_BUCKET} exists without a TTL; delete it`);
  }
  return { kv, ttl };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "w" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A worker process's lease: put at once, renewed every TTL/3, deleted by `stop()`. A renewal that
 * fails (the server unreachable for a moment) is retried at the next tick. A put is not doubled
 * while it is young, but one unanswered for a renewal interval is given up and put anew, and the
 * lease is put at once whenever the connection comes back: a put can be lost without an error
 * (the client drops what was queued while it was disconnected when it dials again, and what was
 * written into a socket that died with a link), and waiting for the lost one's timeout would let
 * the lease lapse after the worker is back.
 *
 * @example
 * ```ts
 * const lease = await WorkerLease.start(nc, { name: "host-a", runtime: "deno 2.9.6", threads: 2, backends: ["js"] });
 * lease.serve("run-1");
 * await lease.stop();
 * ```
 */
export class WorkerLease {
  readonly #kv: KV;
  readonly #presence: Presence;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #intervalMs: number;
  readonly #status: AsyncIterable<Status> & { stop?: () => void };
  readonly #onUnanswered: () => void;
  #run = "";
  #putting: Promise<void> | null = null;
  #putSince = 0;
  #stopped = false;

  private constructor(
    nc: NatsConnection,
    kv: KV,
    readonly id: string,
    presence: Presence,
    /** The lease's length (the bucket's TTL), in milliseconds. */
    readonly ttlMs: number,
    onUnanswered: () => void,
  ) {
    this.#kv = kv;
    this.#presence = presence;
    this.#onUnanswered = onUnanswered;
    this.#intervalMs = Math.max(1, Math.floor(ttlMs / 3));
    this.#timer = setInterval(() => this.#renew(), this.#intervalMs);
    const statuses = nc.status();
    this.#status = statuses;
    (async () => {
      for await (const status of statuses) {
        if (status.type === "reconnect" && !this.#stopped) this.#put().catch(() => {});
      }
    })().catch(() => {});
  }

  /**
   * Takes a lease for this process, described by `presence`, under `id` (random by default).
   * `onUnanswered` hears of every put given up unanswered: the connection may have gone silent.
   */
  static async start(
    nc: NatsConnection,
    presence: Presence,
    options: {
      readonly id?: string;
      readonly leaseMs?: number;
      readonly onUnanswered?: () => void;
    } = {},
  ): Promise<WorkerLease> {
    const id = options.id ?? randomId();
    if (!isSubjectToken(id)) throw new RangeError(`not a worker id: ${JSON.stringify(id)}`);
    const { kv, ttl } = await openBucket(nc, options.leaseMs ?? DEFAULT_LEASE_MS);
    const lease = new WorkerLease(nc, kv, id, presence, ttl, options.onUnanswered ?? (() => {}));
    try {
      await lease.#put();
    } catch (e) {
      lease.#halt();
      throw e;
    }
    return lease;
  }

  /** The run this process serves ("" when idle), published at once. */
  get run(): string {
    return this.#run;
  }

  /**
   * Publishes the run served ("" when idle) at once, not after a put in flight: puts leave in
   * order on the one connection, so the server applies this one last.
   */
  async serve(run: string): Promise<void> {
    if (run !== "" && !isSubjectToken(run)) throw new RangeError(`not a run id: ${run}`);
    this.#run = run;
    await this.#put();
  }

  /** Stops renewing and deletes the lease, so the coordinator sees the leave at once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#halt();
    await this.#putting?.catch(() => {});
    await this.#kv.delete(this.id);
  }

  #halt(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#status.stop?.();
  }

  #renew(): void {
    if (this.#stopped) return;
    if (this.#putting !== null) {
      if (performance.now() - this.#putSince < this.#intervalMs) return;
      this.#onUnanswered();
    }
    this.#put().catch(() => {});
  }

  /** One put, bounded by the lease's length: a put answered later than that is moot anyway. */
  #put(): Promise<void> {
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "presence",
      run: this.#run,
      from: this.id,
      body: this.#presence,
    });
    const putting = this.#kv.put(this.id, bytes, { timeout: this.ttlMs }).then(() => {});
    this.#putting = putting;
    this.#putSince = performance.now();
    return putting.finally(() => {
      if (this.#putting === putting) this.#putting = null;
    });
  }
}

/**
 * The coordinator's view of the worker processes present, kept current by a watch on the
 * presence bucket and a sweep that expires leases not renewed within the TTL.
 *
 * @example
 * ```ts
 * const members = await Membership.watch(nc, { onEvent: (e) => log(e) });
 * const workers = await members.waitFor(2, 60_000);
 * ```
 */
export class Membership {
  readonly #members = new Map<string, { member: Member; seen: number }>();
  readonly #onEvent: (event: MembershipEvent) => void;
  readonly #onReject: (reason: RejectReason, detail: string) => void;
  readonly #waiters = new Set<() => void>();
  #sweep: ReturnType<typeof setInterval> | undefined;
  #stop: (() => void) | undefined;

  private constructor(
    /** The lease's length (the bucket's TTL), in milliseconds. */
    readonly ttlMs: number,
    onEvent: (event: MembershipEvent) => void,
    onReject: (reason: RejectReason, detail: string) => void,
  ) {
    this.#onEvent = onEvent;
    this.#onReject = onReject;
  }

  /**
   * Starts watching. `onEvent` hears every join, update and leave; `onReject` every lease whose
   * value is not a valid presence envelope for its key (dropped).
   */
  static async watch(nc: NatsConnection, options: {
    readonly leaseMs?: number;
    readonly onEvent?: (event: MembershipEvent) => void;
    readonly onReject?: (reason: RejectReason, detail: string) => void;
  } = {}): Promise<Membership> {
    const { kv, ttl } = await openBucket(nc, options.leaseMs ?? DEFAULT_LEASE_MS);
    const m = new Membership(ttl, options.onEvent ?? (() => {}), options.onReject ?? (() => {}));
    const entries = await kv.watch();
    m.#stop = () => entries.stop();
    m.#sweep = setInterval(() => m.#expire(), Math.max(1, Math.floor(ttl / 10)));
    (async () => {
      for await (const entry of entries) {
        if (entry.operation === "PUT") m.#renewed(entry.key, entry.value);
        else m.#left(entry.key, "left");
      }
    })().catch(() => {});
    return m;
  }

  /** The workers present now, by id. */
  members(): Member[] {
    return [...this.#members.values()].map((e) => e.member).sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    );
  }

  /**
   * Resolves with the members present once there are at least `count` (that pass `accept`, when
   * given); rejects after `timeoutMs` with a one-line `ClusterError` saying how many joined.
   */
  waitFor(
    count: number,
    timeoutMs: number,
    accept: (m: Member) => boolean = () => true,
  ): Promise<Member[]> {
    return new Promise((resolve, reject) => {
      const present = () => this.members().filter(accept);
      const check = () => {
        const now = present();
        if (now.length < count) return;
        done();
        resolve(now);
      };
      const timer = setTimeout(() => {
        done();
        const n = present().length;
        reject(
          new ClusterError(
            `waited ${+(timeoutMs / 1000).toFixed(1)} s for ${count} worker process` +
              `${count === 1 ? "" : "es"}; ${n === 0 ? "none" : n} joined`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Stops watching. */
  stop(): void {
    clearInterval(this.#sweep);
    this.#stop?.();
  }

  #renewed(key: string, value: Uint8Array): void {
    const d = decodeEnvelope(value, { maxBytes: 4096 });
    if (!d.ok) return this.#onReject(d.reason, `lease ${key}: ${d.detail}`);
    const e = d.envelope;
    if (e.kind !== "presence") return this.#onReject("kind", `lease ${key}: a ${e.kind} message`);
    if (e.from !== key) return this.#onReject("shape", `lease ${key} names worker ${e.from}`);
    const member: Member = { id: key, run: e.run, ...e.body };
    const before = this.#members.get(key);
    this.#members.set(key, { member, seen: performance.now() });
    if (before === undefined) this.#onEvent({ type: "join", member });
    else if (JSON.stringify(before.member) !== JSON.stringify(member)) {
      this.#onEvent({ type: "update", member });
    }
    for (const waiter of [...this.#waiters]) waiter();
  }

  #left(key: string, why: "left" | "expired"): void {
    const entry = this.#members.get(key);
    if (entry === undefined) return;
    this.#members.delete(key);
    this.#onEvent({ type: "leave", member: entry.member, why });
  }

  #expire(): void {
    const now = performance.now();
    for (const [key, { seen }] of this.#members) {
      if (now - seen > this.ttlMs) this.#left(key, "expired");
    }
  }
}
