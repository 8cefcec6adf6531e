import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { RunSpec } from "../../core/run_spec.ts";
import { findBlasLibrary } from "../../kernels/blas.ts";
import { BlockComputer } from "./block_computer.ts";
import { ClusterError } from "./cluster_error.ts";
import { connectCluster, reconnectCluster } from "./connection.ts";
import { DatasetPieces } from "./dataset_store.ts";
import {
  BUSY_NOTE,
  type ChunkBlock,
  DecodeBuffers,
  decodeEnvelope,
  EncodeBuffer,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
  type JoinReply,
  type StepBatch,
} from "./envelope.ts";
import { kernelIdentity } from "../../kernels/kernel_identity.ts";
import { kernelsLabel } from "../../kernels/select.ts";
import { DEFAULT_LEASE_MS, WorkerLease } from "./membership.ts";
import { PieceRows } from "./piece_rows.ts";
import { subject } from "./subjects.ts";

/** How long leaving may wait for the connection's last messages to go out. */
const DRAIN_MS = 5_000;

/** How a worker process is started. */
export interface ClusterWorkerOptions {
  /** `nats://host:port`, several comma-separated; credentials as `user:pass@` or `token@`. */
  readonly url: string;
  /** Worker threads computing in this process. */
  readonly threads: number;
  /** A name for people; the host name by default. */
  readonly name: string;
  /** The runtime, e.g. "deno 2.9.6", as the presence shows it. */
  readonly runtime: string;
  /** A PEM file of the certificate authority of the servers' TLS certificates. */
  readonly caFile?: string;
  /** Called with one line for each thing a person watching the worker should know. */
  readonly onLog?: (line: string) => void;
}

/** The run a worker serves: its spec, its computer and its data. */
interface Served {
  readonly run: string;
  readonly coordinator: string;
  readonly spec: RunSpec;
  /** This process's `kernelIdentity` of the spec, the answer to every join of the run. */
  readonly identity: string;
  readonly computer: BlockComputer;
  readonly rows: PieceRows;
  /** The memory its results are encoded into (a run's steps are answered one at a time). */
  readonly results: EncodeBuffer;
  readonly timeoutMs: number;
  lastHeard: number;
  readonly alive: Subscription;
  /** The run's `broadcast` steps, handled in the queue of this worker's own steps. */
  readonly steps: Subscription;
  /** Resolves when the run is given up, so that a step in flight is abandoned at once. */
  readonly released: Promise<null>;
  release: () => void;
}

/**
 * A long-lived worker process of the cluster: it keeps a lease in the presence bucket, serves the
 * runs that coordinators ask it to join one after another, and computes the blocks of each step
 * it is sent. It gives a run up when the coordinator has not been heard from for the run's
 * timeout (the coordinator died), and stays ready for the next.
 *
 * @example
 * ```ts
 * const worker = await ClusterWorker.start({ url, threads: 2, name: "host-a", runtime: "deno" });
 * await worker.stop();
 * ```
 */
export class ClusterWorker {
  readonly #nc: NatsConnection;
  /** This process's id in the cluster. */
  readonly id: string;
  #lease: WorkerLease | null = null;
  readonly #options: ClusterWorkerOptions;
  readonly #inbox: Subscription;
  #served: Served | null = null;
  readonly #watchdog: ReturnType<typeof setInterval>;
  /** Steps are computed one at a time, in the order they arrive. */
  #queue: Promise<void> = Promise.resolve();
  /**
   * Joins and leaves, in the order they arrive, beside the steps: a join is answered and a leave
   * acted on while a step is in flight (which may wait for data over a link gone quiet).
   */
  #control: Promise<void> = Promise.resolve();
  #stopped = false;
  #probing = false;
  /** The closing of the runs given up: their computers and lease updates. */
  #releasing: Promise<void> = Promise.resolve();
  /** Messages dropped, by kind and reason. */
  readonly #dropped = new Map<string, number>();
  /** The memory steps are decoded into. */
  readonly #stepBuffers = new DecodeBuffers();

  /** Listens under `id` at once: the lease, which tells coordinators of us, comes after. */
  private constructor(nc: NatsConnection, id: string, options: ClusterWorkerOptions) {
    this.#nc = nc;
    this.id = id;
    this.#options = options;
    this.#inbox = nc.subscribe(`${subject("worker", id)}.*`, {
      callback: (error, msg) => {
        if (error) return;
        if (msg.subject.endsWith(".step")) {
          this.#enqueueStep(msg);
        } else {
          const log = (e: unknown) => this.#log(`error: ${String((e as Error)?.message ?? e)}`);
          this.#control = this.#control.then(() => this.#handle(msg.data, msg)).catch(log);
        }
      },
    });
    this.#watchdog = setInterval(() => this.#checkCoordinator(), 250);
  }

  /**
   * Queues a step, sent to this worker or broadcast to its run: steps are computed one at a time,
   * to the end, in the order they arrive (NATS keeps the coordinator's order on our connection),
   * decoded into the one `#stepBuffers`.
   */
  #enqueueStep(msg: Msg): void {
    const log = (e: unknown) => this.#log(`error: ${String((e as Error)?.message ?? e)}`);
    this.#queue = this.#queue.then(() => this.#handle(msg.data, msg, this.#stepBuffers))
      .catch(log);
  }

  /** Connects, takes a lease and starts serving. */
  static async start(options: ClusterWorkerOptions): Promise<ClusterWorker> {
    const nc = await connectCluster(options.url, {
      name: options.name,
      ...(options.caFile ? { caFile: options.caFile } : {}),
    });
    const worker = new ClusterWorker(nc, randomWorkerId(), options);
    try {
      const backends = ["js", "wasm", ...(findBlasLibrary() !== null ? ["blas"] : [])];
      worker.#lease = await WorkerLease.start(nc, {
        name: options.name,
        runtime: options.runtime,
        threads: options.threads,
        backends,
      }, {
        id: worker.id,
        // Idle, nothing else would notice a connection gone silent: joins sent to us lost, the
        // lease lapsing. Serving, the coordinator's silence does (`#checkCoordinator`).
        onUnanswered: () => {
          if (worker.#served === null) worker.#probe(worker.#lease?.ttlMs ?? DEFAULT_LEASE_MS);
        },
      });
      worker.#log(`joined the cluster as ${worker.id} with ${options.threads} thread(s)`);
      return worker;
    } catch (e) {
      await worker.stop();
      throw e;
    }
  }

  /** Leaves the cluster: gives up any run, deletes the lease, closes the connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#watchdog);
    this.#inbox.unsubscribe();
    await this.#control.catch(() => {});
    this.#release("the worker is stopping");
    await this.#releasing;
    await this.#queue.catch(() => {});
    await this.#lease?.stop().catch(() => {});
    if (this.#dropped.size > 0) {
      const counts = [...this.#dropped].map(([kind, n]) => `${n} × ${kind}`).join(", ");
      this.#log(`messages dropped: ${counts}`);
    }
    // A drain flushes through the server, which may not answer (a link gone silent): bounded.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#nc.drain().catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, DRAIN_MS)),
    ]);
    clearTimeout(timer);
    await this.#nc.close().catch(() => {});
  }

  /**
   * Handles a message; what arrives on the step subject is decoded into `reuse`, which only the
   * step in hand uses (steps are handled one at a time, to the end).
   */
  async #handle(
    data: Uint8Array,
    msg: { respond(data: Uint8Array): boolean },
    reuse?: DecodeBuffers,
  ): Promise<void> {
    if (this.#stopped) return;
    const decoded = decodeEnvelope(data, {
      ...(this.#served ? { paramCount: paramCountOf(this.#served.spec) } : {}),
      ...(reuse ? { reuse } : {}),
    });
    if (!decoded.ok) {
      this.#drop(`${decoded.kind ?? "?"}: ${decoded.reason}`, decoded.detail);
      return;
    }
    const e = decoded.envelope;
    switch (e.kind) {
      case "join":
        return msg.respond(this.#reply(e.run, "joined", await this.#join(e)))
          ? undefined
          : undefined;
      case "step":
      case "broadcast": {
        const served = this.#served;
        if (!served || e.run !== served.run || e.from !== served.coordinator) {
          this.#drop(`${e.kind}: another run`, `run ${e.run} from ${e.from}`);
          return;
        }
        served.lastHeard = performance.now();
        const blocks = e.kind === "step"
          ? e.body.blocks
          : e.body.deals.find((d) => d.worker === this.id)?.blocks;
        if (blocks === undefined) return; // a broadcast that deals us nothing
        const computing = this.#step(served, e.step!, e.body, blocks);
        computing.catch(() => {}); // abandoned: its end concerns no one
        const result = await Promise.race([computing, served.released]);
        if (result !== null && this.#served === served) msg.respond(result);
        return;
      }
      case "leave":
        if (this.#served && e.run === this.#served.run && e.from === this.#served.coordinator) {
          this.#release("the run ended");
        } else {
          this.#drop("leave: not from this run's coordinator", `run ${e.run} from ${e.from}`);
        }
        return;
      default:
        this.#drop(`${e.kind}: not for a worker`, `from ${e.from}`);
    }
  }

  async #join(e: Envelope<"join">): Promise<JoinReply> {
    const { spec, timeoutMs } = e.body;
    const decline = (note: string) => ({ accepted: false, note, identity: "" });
    if (this.#served && this.#served.run !== e.run) {
      return decline(`${BUSY_NOTE}${this.#served.run}`);
    }
    if (this.#served) return { accepted: true, note: "", identity: this.#served.identity };
    const identity = await kernelIdentity(spec.backend, spec.kernelVariant, spec.dtype)
      .catch(() => "");
    if (spec.backend === "blas" && findBlasLibrary() === null) {
      return decline("no OpenBLAS on this host for the blas backend");
    }
    if (identity === "") return decline(`cannot run the ${spec.backend} kernels here`);
    let pieces: DatasetPieces;
    try {
      pieces = await DatasetPieces.open(this.#nc, spec.dataFingerprint, spec.chunkRows, timeoutMs);
    } catch (error) {
      // Not there or damaged: declined for good. Not read in time: unanswered, asked again.
      if (!(error instanceof ClusterError)) throw error;
      return decline(String((error as Error).message).split("\n")[0]);
    }
    const alive = this.#nc.subscribe(subject("run", e.run, "alive"), {
      callback: () => {
        if (this.#served?.run === e.run) this.#served.lastHeard = performance.now();
      },
    });
    // Subscribed before the join is answered: the server has the subscription by the time the
    // coordinator has the answer (a connection's messages are processed in order).
    const steps = this.#nc.subscribe(subject("run", e.run, "step"), {
      callback: (error, msg) => {
        if (!error) return this.#enqueueStep(msg);
        // Refused by the server (permissions without the run's step subject): the coordinator
        // sends us our steps alone once we leave a broadcast unanswered.
        this.#log(`cannot hear run ${e.run}'s steps: ${String(error.message).split("\n")[0]}`);
      },
    });
    let release = () => {};
    const released = new Promise<null>((resolve) => release = () => resolve(null));
    this.#served = {
      run: e.run,
      coordinator: e.from,
      spec,
      identity,
      computer: new BlockComputer(spec, this.#options.threads),
      rows: new PieceRows(pieces),
      results: new EncodeBuffer(),
      timeoutMs,
      lastHeard: performance.now(),
      alive,
      steps,
      released,
      release,
    };
    // The answer does not wait for the lease (a put over a slow link): the coordinator counts us
    // by the answer, and the lease follows.
    this.#lease?.serve(e.run).catch(() => {});
    this.#log(
      `serving run ${e.run} (${kernelsLabel(spec.backend, spec.kernelVariant)}, ${spec.dtype})`,
    );
    return { accepted: true, note: "", identity };
  }

  /** Computes `blocks` of step `step`'s batch `req`; the result's bytes. */
  async #step(
    served: Served,
    step: number,
    req: StepBatch,
    blocks: readonly ChunkBlock[],
  ): Promise<Uint8Array> {
    const t0 = performance.now();
    const order = req.rows === null
      ? null
      : new Int32Array(req.rows.buffer, req.rows.byteOffset, req.rows.length);
    const batch = order === null
      ? { begin: req.begin, end: req.end }
      : { begin: 0, end: req.end - req.begin };
    const got = await served.computer.compute(req.params, batch, blocks, order, served.rows);
    const dataMs = served.rows.takeDataMs();
    return encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "result",
      run: served.run,
      step,
      from: this.id,
      body: {
        dtype: req.dtype,
        blocks,
        chunks: Math.ceil((req.end - req.begin) / req.chunkRows),
        sums: got.sums,
        stats: got.chunkStats,
        computeMs: Math.max(0, performance.now() - t0 - dataMs),
        dataMs,
      },
    }, served.results);
  }

  #reply(run: string, kind: "joined", body: JoinReply): Uint8Array {
    return encodeEnvelope({ v: ENVELOPE_VERSION, kind, run, from: this.id, body });
  }

  #checkCoordinator(): void {
    const s = this.#served;
    if (s && performance.now() - s.lastHeard > s.timeoutMs) {
      this.#release(`nothing heard from coordinator ${s.coordinator} for ${s.timeoutMs} ms`);
      this.#probe(s.timeoutMs);
    }
  }

  /**
   * After a coordinator fell silent, or, idle, a lease put went unanswered: was it them, or our
   * connection? A link that was down for a while can leave the server's side of the connection
   * retransmitting with a backoff of many seconds after it is back, so that nothing reaches us
   * though what we send gets through (our lease is renewed, joins are sent to us and time out).
   * A ping the server does not answer within `timeoutMs` means a connection anew, with its
   * subscriptions (the old socket given up after `timeoutMs` too, whatever it still holds), and
   * the lease put again as soon as it is connected.
   */
  #probe(timeoutMs: number): void {
    if (this.#probing || this.#stopped) return;
    this.#probing = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => timer = setTimeout(resolve, timeoutMs, false));
    Promise.race([this.#nc.flush().then(() => true), expired])
      .then(async (answered) => {
        if (answered || this.#stopped) return;
        this.#log(`no answer from the server within ${timeoutMs} ms: connecting anew`);
        await reconnectCluster(this.#nc, timeoutMs);
      })
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.#probing = false;
      });
  }

  /**
   * Gives the run up at once, waiting for nothing: a step in flight (say, for a data piece over a
   * link gone quiet) is abandoned unanswered, its computer closed under it, and the next join is
   * free to be accepted. `stop()` waits for the closing.
   */
  #release(why: string): void {
    const s = this.#served;
    if (!s) return;
    this.#served = null;
    s.alive.unsubscribe();
    s.steps.unsubscribe();
    s.release();
    this.#log(`left run ${s.run}: ${why}`);
    const closing = Promise.all([
      s.computer.close().catch(() => {}),
      this.#stopped ? undefined : this.#lease?.serve("").catch(() => {}),
    ]);
    this.#releasing = Promise.all([this.#releasing, closing]).then(() => {});
  }

  /**
   * Counts a message that is dropped: malformed, of another version, for another run, or not
   * meant for a worker. The first of each kind is logged; the counts when the worker stops.
   */
  #drop(kind: string, detail: string): void {
    const count = (this.#dropped.get(kind) ?? 0) + 1;
    this.#dropped.set(kind, count);
    if (count === 1) {
      this.#log(`dropped a message (${kind}; ${detail}); more of this kind are only counted`);
    }
  }

  #log(line: string): void {
    this.#options.onLog?.(line);
  }
}

function paramCountOf(spec: RunSpec): number {
  return spec.hidden * spec.features + 2 * spec.hidden + 1;
}

function randomWorkerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "w" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
