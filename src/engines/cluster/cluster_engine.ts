import {
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { chunkCount } from "../../core/shards.ts";
import type { RunSpec } from "../../core/run_spec.ts";
import type { StepEngine, StepInput, StepOutput, TransportReport } from "../../core/step_engine.ts";
import type { WorkspaceViews } from "../../core/workspace.ts";
import type { Dataset } from "../../data/dataset.ts";
import { allFinite } from "../../dtype.ts";
import { datasetFingerprint } from "../../data/fingerprint.ts";
import { option } from "../../errors.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import type { BackendName } from "../../kernels/select.ts";
import type { WasmVariant } from "../../kernels/wasm.ts";
import { kernelIdentity } from "../../kernels/kernel_identity.ts";
import { type Block, deal } from "./assignment.ts";
import { BlockCombiner } from "./block_combiner.ts";
import { BlockComputer } from "./block_computer.ts";
import { ClusterError } from "./cluster_error.ts";
import { connectCluster, redactUrl } from "./connection.ts";
import { publishDataset } from "./dataset_store.ts";
import {
  BUSY_NOTE,
  DecodeBuffers,
  decodeEnvelope,
  EncodeBuffer,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
  senderOf,
  type StepResult,
} from "./envelope.ts";
import { type Member, Membership } from "./membership.ts";
import { MemoryRows } from "./memory_rows.ts";
import { subject } from "./subjects.ts";

/** How the coordinator reaches and waits for its cluster. */
export interface ClusterOptions {
  /** `nats://host:port`, several comma-separated; credentials as `user:pass@` or `token@`. */
  readonly url: string;
  /** Worker processes to wait for before the first step (default 1). */
  readonly minWorkers?: number;
  /** How long to wait for them, and for a replacement when none is left (default 60 s). */
  readonly waitMs?: number;
  /** How long a worker may stay silent in a step before its work goes to others (default 5 s). */
  readonly timeoutMs?: number;
  /** A PEM file of the certificate authority of the servers' TLS certificates. */
  readonly caFile?: string;
}

/** What the cluster engine starts from besides its options. */
export interface ClusterContext {
  readonly workspace: WorkspaceViews;
  readonly kernels: Kernels;
  readonly backend: BackendName;
  readonly kernelVariant: WasmVariant | null;
  /** Called with one line for each join, leave and reassignment. */
  readonly onLog?: (line: string) => void;
}

const DEFAULTS = { minWorkers: 1, waitMs: 60_000, timeoutMs: 5_000 } as const;
/** A step's requests wait at least this many times the slowest step so far. */
const SLOW_STEPS = 20;

/** A worker process serving this run. */
interface Serving {
  readonly member: Member;
  /** Fail the requests in flight to it (its own blocks, a check of another's), when its lease ends. */
  readonly lost: Set<(why: string) => void>;
  /**
   * The memory its results are decoded into: a result is put into the combiner (copied) before
   * the worker is asked again.
   */
  readonly buffers: DecodeBuffers;
  /** The memory the steps sent to it are encoded into (the next follows its answer). */
  readonly steps: EncodeBuffer;
  /**
   * Whether it has answered a step of the run, so that it is sent the run's broadcasts: its
   * subscription to them, made before it answered the join, has had a step's time to reach every
   * server of a NATS cluster. Until then, and for the rest of the run once it has left a broadcast
   * unanswered (`#unheard`), it is sent its blocks alone.
   */
  listens: boolean;
}

/** A worker's blocks in a step's broadcast: the request, and how long its answer is waited for. */
interface Dealt {
  readonly id: string;
  readonly job: Job;
  readonly wait: number;
}

/** Awaits one worker's answer to a broadcast: called with the reply's bytes. */
type Awaiting = (data: Uint8Array) => void;

/** What one request of a step asks: these blocks of this batch. */
interface Job {
  readonly step: number;
  readonly batch: { readonly begin: number; readonly end: number };
  readonly rowIds: Uint32Array | null;
  readonly blocks: Block[];
  readonly chunks: number;
}

/**
 * The coordinator of a run on worker processes: each step it deals the batch's chunks to the
 * worker processes in aligned blocks, publishes the parameters and every worker's blocks in one
 * message to the run's workers over NATS (a worker new to the run, and blocks dealt again after a
 * failure, are sent to one worker at a time), and finishes the reduction tree over the block sums
 * they send back, so that the run has the bits of `--workers 0`. A worker that stops answering
 * (killed, its host gone, its link cut) loses its blocks to the others within the timeout; one that
 * joins takes work from the next step on.
 *
 * @example
 * ```ts
 * const engine = await ClusterEngine.start({ url: "nats://127.0.0.1:4222" }, context);
 * ```
 */
export class ClusterEngine implements StepEngine {
  readonly kind = "cluster";
  readonly #nc: NatsConnection;
  readonly #run: string;
  /** The run's spec; its kernel variant may be pinned to `plain` before the first step. */
  #spec: RunSpec;
  /** `kernelIdentity` of the spec on the coordinator: what every worker must compute. */
  #identity: string;
  readonly #ws: WorkspaceViews;
  readonly #combiner: BlockCombiner;
  readonly #membership: Membership;
  readonly #serving = new Map<string, Serving>();
  /** Workers that declined this run or were excluded from it: not asked again. */
  readonly #declined = new Set<string>();
  /** Computes blocks on this process, to settle a non-finite result no other worker can check. */
  #checker: BlockComputer | null = null;
  /** Workers asked to join and not answered yet, with the asking. */
  readonly #joining = new Map<string, Promise<void>>();
  /** Workers whose last join went unanswered (logged once until one is answered). */
  readonly #unanswered = new Set<string>();
  /**
   * The most worker processes the run takes: its batches' chunk count (a worker beyond that
   * would hold no block, while another run on the same cluster could use it), or `minWorkers`
   * when that is more.
   */
  readonly #maxWorkers: number;
  readonly #options: Required<Omit<ClusterOptions, "caFile">>;
  readonly #log: (line: string) => void;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #steps = 0;
  /** The memory each step's broadcast is encoded into (the next follows every answer to it). */
  readonly #broadcastBuffer = new EncodeBuffer();
  /** Where the answers to broadcasts arrive: `<inbox>.<step>`. */
  readonly #replyInbox: string;
  readonly #replies: Subscription;
  /** The step whose broadcast is answered now, its workers not answered yet, and their bound. */
  #awaiting: { step: number; workers: Map<string, Awaiting>; maxBytes: number } | null = null;
  /**
   * Workers that left a broadcast unanswered until their time ran out: whatever kept it from them
   * (a subscription the server refuses, a link that keeps dropping), they get requests alone.
   */
  readonly #unheard = new Set<string>();
  /** Replies to broadcasts dropped (late, duplicate, unreadable), by kind. */
  readonly #droppedReplies = new Map<string, number>();
  #bytes = 0;
  #syncMs = 0;
  #slowestStepMs = 0;
  /** The last step's dealing, before any failure: worker id → its blocks. */
  #dealt: ReadonlyMap<string, readonly Block[]> = new Map();
  #lastBatchRows = 0;
  readonly #phase = [0, 0, 0];
  #closed = false;

  private constructor(
    nc: NatsConnection,
    run: string,
    spec: RunSpec,
    context: ClusterContext,
    membership: Membership,
    options: Required<Omit<ClusterOptions, "caFile">>,
    identity: string,
  ) {
    this.#nc = nc;
    this.#run = run;
    this.#spec = spec;
    this.#identity = identity;
    this.#ws = context.workspace;
    this.#combiner = new BlockCombiner(context.kernels, context.workspace);
    this.#membership = membership;
    this.#options = options;
    this.#maxWorkers = Math.max(options.minWorkers, chunkCount(spec.batchSize, spec.chunkRows));
    this.#log = context.onLog ?? (() => {});
    this.#replyInbox = createInbox();
    this.#replies = nc.subscribe(`${this.#replyInbox}.*`, {
      callback: (error, msg) => {
        if (!error) this.#onReply(msg);
      },
    });
    const alive = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "alive",
      run,
      from: "c" + run,
      body: {},
    });
    this.#heartbeat = setInterval(() => {
      nc.publish(subject("run", run, "alive"), alive);
      this.#recruit();
    }, Math.max(50, Math.floor(options.timeoutMs / 4)));
  }

  /** Worker processes serving the run now. */
  get workers(): number {
    return this.#serving.size;
  }

  /**
   * Connects, publishes the training rows to the object store (unless they are there), waits for
   * `minWorkers` idle worker processes and asks them to join.
   */
  static async start(options: ClusterOptions, context: ClusterContext): Promise<ClusterEngine> {
    const settings = {
      url: options.url,
      minWorkers: options.minWorkers ?? DEFAULTS.minWorkers,
      waitMs: options.waitMs ?? DEFAULTS.waitMs,
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    };
    const log = context.onLog ?? (() => {});
    const ws = context.workspace;
    const { features, hidden } = ws.layout.shape;
    const nc = await connectCluster(options.url, {
      name: "shardnet coordinator",
      ...(options.caFile ? { caFile: options.caFile } : {}),
    });
    let membership: Membership | undefined;
    try {
      const data = publishedRows(ws);
      const published = await publishDataset(nc, data, ws.layout.chunkRows);
      if (published.uploadedPieces > 0) {
        log(
          `published data ${published.manifest.fingerprint}: ${published.uploadedPieces} pieces, ` +
            `${(published.uploadedBytes / 2 ** 20).toFixed(1)} MiB`,
        );
      }
      const spec: RunSpec = {
        dtype: ws.layout.shape.dtype,
        features,
        hidden,
        samples: ws.layout.shape.samples,
        batchSize: ws.layout.shape.batchSize,
        chunkRows: ws.layout.chunkRows,
        backend: context.backend,
        kernelVariant: context.kernelVariant,
        dataFingerprint: datasetFingerprint(data),
      };
      const run = randomRunId();
      // Events may arrive before the engine exists; those are the workers `#gather` finds.
      const started: { engine?: ClusterEngine } = {};
      membership = await Membership.watch(nc, {
        onEvent: (event) => {
          if (started.engine) started.engine.#onMembership(event.type, event.member);
        },
      });
      const identity = await kernelIdentity(spec.backend, spec.kernelVariant, spec.dtype);
      const engine = new ClusterEngine(nc, run, spec, context, membership, settings, identity);
      started.engine = engine;
      try {
        await engine.#gather(settings.minWorkers, settings.waitMs);
      } catch (e) {
        await engine.close();
        throw e;
      }
      return engine;
    } catch (e) {
      membership?.stop();
      await nc.close().catch(() => {});
      if (e instanceof ClusterError) throw e;
      throw new ClusterError(redactUrl(String((e as Error)?.message ?? e).split("\n")[0]));
    }
  }

  async step(input: StepInput): Promise<StepOutput> {
    const t0 = performance.now();
    const { batch, order } = input;
    const rows = batch.end - batch.begin;
    this.#lastBatchRows = rows;
    const chunks = chunkCount(rows, this.#spec.chunkRows);
    this.#combiner.begin(chunks);
    const step = ++this.#steps;
    const rowIds = order === null
      ? null
      : new Uint32Array(order.buffer, order.byteOffset + 4 * batch.begin, rows);
    let slowestWorkerMs = 0;
    let pending: Map<string, Block[]> | null = null;
    const before = this.#dealt;
    const timeout = Math.max(this.#options.timeoutMs, SLOW_STEPS * this.#slowestStepMs);
    // A worker dealt other blocks than in the last step (new to the run, or taking over) first
    // fetches their rows from the object store, which on a slow link or a busy host takes longer
    // than any step: it is waited for as long as a join, while its lease says it lives. Else it
    // would be given up on, rejoin, fetch anew, and be given up on again.
    let fetching = false;
    while (!this.#combiner.complete) {
      if (this.#serving.size === 0) await this.#replaceAll(step);
      const redealt = pending !== null;
      if (pending === null) {
        pending = deal(chunks, this.#members());
        this.#dealt = new Map(pending);
      } else {
        pending = redeal(pending, this.#members());
      }
      const dealt: Dealt[] = [...pending].filter(([, blocks]) => blocks.length > 0).map(
        ([id, blocks]) => {
          const fetches = redealt || !sameBlocks(before.get(id), blocks);
          fetching ||= fetches;
          const wait = fetches ? Math.max(timeout, this.#options.waitMs) : timeout;
          return { id, job: { step, batch, rowIds, blocks, chunks }, wait };
        },
      );
      // The first dealing of a step goes in one message to every worker that listens for it;
      // blocks dealt again after a failure, and a worker new to the run, by request.
      const broadcast = redealt
        ? new Map<string, Promise<StepResult | null>>()
        : this.#broadcast(dealt.filter((d) => this.#serving.get(d.id)?.listens));
      const attempts = dealt.map(
        async ({ id, job, wait }) => {
          let got = await (broadcast.get(id) ?? this.#request(id, job, wait));
          if (got === null) return;
          slowestWorkerMs = Math.max(slowestWorkerMs, got.computeMs + got.dataMs);
          if (!finiteResult(got)) got = await this.#check(id, got, job);
          let at = 0;
          got.blocks.forEach((block, b) => {
            const held = Math.min(block.span, chunks - block.first);
            const size = this.#ws.layout.paramCount;
            this.#combiner.put(
              block,
              got.sums.subarray(b * size, (b + 1) * size),
              got.stats.subarray(at, at + 2 * held),
            );
            at += 2 * held;
          });
          pending!.delete(id);
        },
      );
      await Promise.all(attempts);
      this.#awaiting = null;
    }
    const t1 = performance.now();
    const out = this.#combiner.finish(input.learningRate, rows, input.step);
    const ms = performance.now() - t0;
    // A step with data to fetch says nothing of how long computing takes; nor does one that lost
    // a worker (its blocks, dealt again, are such data), which waited out a timeout: counted, it
    // would make every later timeout twenty times that step.
    if (!fetching) this.#slowestStepMs = Math.max(this.#slowestStepMs, ms);
    this.#syncMs += Math.max(0, ms - slowestWorkerMs);
    this.#phase[0] += t1 - t0;
    this.#phase[2] += performance.now() - t1;
    return out;
  }

  phaseMs(): number[][] {
    return [this.#phase.slice()];
  }

  transport(): TransportReport {
    const steps = Math.max(1, this.#steps);
    return {
      processes: this.#serving.size,
      bytesPerStep: this.#bytes / steps,
      syncMs: this.#syncMs / steps,
      rowsPerProcess: [...this.#dealt.values()].map((blocks) => this.#rowsOf(blocks))
        .sort((a, b) => b - a),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#replies.unsubscribe();
    if (this.#droppedReplies.size > 0) {
      const counts = [...this.#droppedReplies].map(([kind, n]) => `${n} × ${kind}`).join(", ");
      this.#log(`replies dropped: ${counts}`);
    }
    for (const id of this.#serving.keys()) this.#send(id, "leave");
    this.#serving.clear();
    this.#membership.stop();
    await this.#checker?.close();
    await this.#nc.drain().catch(() => {});
  }

  get #from(): string {
    return "c" + this.#run;
  }

  #members(): { id: string; threads: number }[] {
    return [...this.#serving.values()].map((s) => ({ id: s.member.id, threads: s.member.threads }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Sends one worker blocks of the step, waiting `timeout` ms for the result; null when it failed:
   * dropped from the run when it did not answer in time, excluded from it when its answer is
   * malformed or answers another request. The step is encoded and the result decoded in the
   * worker's buffers, or in fresh memory for a check while its own result may be in hand.
   */
  async #request(
    id: string,
    job: Job,
    timeout: number,
    into: "reuse" | "fresh" = "reuse",
  ): Promise<StepResult | null> {
    const serving = this.#serving.get(id);
    if (!serving) return null;
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "step",
      run: this.#run,
      step: job.step,
      from: this.#from,
      body: { ...this.#batchBody(job), blocks: job.blocks },
    }, into === "reuse" ? serving.steps : undefined);
    this.#bytes += bytes.byteLength;
    const reply = await this.#answer(
      id,
      job,
      this.#nc.request(subject("worker", id, "step"), bytes, { timeout }).then((m) => {
        this.#bytes += m.data.byteLength;
        return m.data;
      }),
      timeout,
    );
    return reply === null ? null : this.#accept(serving, job, reply, into);
  }

  /**
   * Publishes the step's batch and parameters once to the run's workers, with each of `dealt`'s
   * blocks, and waits for each worker's answer as `#request` does (its own `wait`): by worker id,
   * its results, null for each that failed.
   */
  #broadcast(dealt: readonly Dealt[]): Map<string, Promise<StepResult | null>> {
    const results = new Map<string, Promise<StepResult | null>>();
    if (dealt.length === 0) return results;
    const { step, chunks } = dealt[0].job;
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "broadcast",
      run: this.#run,
      step,
      from: this.#from,
      body: {
        ...this.#batchBody(dealt[0].job),
        deals: dealt.map(({ id, job }) => ({ worker: id, blocks: job.blocks })),
      },
    }, this.#broadcastBuffer);
    const workers = new Map<string, Awaiting>();
    let maxBytes = 0;
    for (const { id, job, wait } of dealt) {
      maxBytes = Math.max(maxBytes, this.#resultBytes(job.blocks.length, chunks));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const data = new Promise<Uint8Array>((resolve, reject) => {
        workers.set(id, resolve);
        timer = setTimeout(() => {
          this.#unheard.add(id);
          reject(new Error("timeout"));
        }, wait);
      });
      const answered = this.#answer(id, job, data, wait).finally(() => {
        clearTimeout(timer);
        // Anything it sends for this step from now on is late.
        workers.delete(id);
      });
      const serving = this.#serving.get(id)!;
      results.set(
        id,
        answered.then((reply) =>
          reply === null ? null : this.#accept(serving, job, reply, "reuse")
        ),
      );
    }
    this.#awaiting = { step, workers, maxBytes };
    this.#nc.publish(subject("run", this.#run, "step"), bytes, {
      reply: `${this.#replyInbox}.${step}`,
    });
    this.#bytes += bytes.byteLength;
    return results;
  }

  /** What a step message and a broadcast both carry: the batch of `job`'s step and the parameters. */
  #batchBody(job: Job) {
    return {
      dtype: this.#spec.dtype,
      params: this.#ws.params.all,
      begin: job.batch.begin,
      end: job.batch.end,
      rows: job.rowIds,
      chunkRows: this.#spec.chunkRows,
    };
  }

  /** A reply to a broadcast: handed to the worker awaiting it, else counted and dropped. */
  #onReply(msg: Msg): void {
    const data = msg.data;
    this.#bytes += data.byteLength;
    // The server's answer to a broadcast no process listens to (a status, without data).
    if (msg.headers?.code === 503) return this.#dropReply("no responders", msg.subject);
    const step = msg.subject.slice(this.#replyInbox.length + 1);
    const awaiting = this.#awaiting;
    if (awaiting === null || step !== String(awaiting.step)) {
      return this.#dropReply("late", `a reply for step ${step.slice(0, 20)}`);
    }
    const from = senderOf(data, awaiting.maxBytes);
    if (from === null) return this.#dropReply("unread", `${data.byteLength} bytes, no sender`);
    const answer = awaiting.workers.get(from);
    if (answer === undefined) {
      return this.#dropReply("not awaited", `step ${step} from ${from}`);
    }
    awaiting.workers.delete(from);
    answer(data);
  }

  /**
   * Counts a reply to a broadcast that no worker awaits: from a worker dropped or not dealt
   * blocks, a second one, one for an earlier step, or one without a sender. The first of each
   * kind is logged; the counts when the run closes.
   */
  #dropReply(kind: string, detail: string): void {
    const count = (this.#droppedReplies.get(kind) ?? 0) + 1;
    this.#droppedReplies.set(kind, count);
    if (count === 1) {
      this.#log(`dropped a reply (${kind}; ${detail}); more of this kind are only counted`);
    }
  }

  /**
   * The reply of worker `id` to `job`, or null when it failed: it was dropped from the run when
   * it did not answer (`reply` rejects) or its lease ended first.
   */
  async #answer(
    id: string,
    job: Job,
    reply: Promise<Uint8Array>,
    waitMs: number,
  ): Promise<Uint8Array | null> {
    const serving = this.#serving.get(id);
    reply.catch(() => {});
    if (!serving) return null;
    let fail = (_: string) => {};
    const lost = new Promise<never>((_, reject) => {
      fail = (why) => reject(new Error(why));
    });
    lost.catch(() => {});
    serving.lost.add(fail);
    try {
      return await Promise.race([reply, lost]);
    } catch (e) {
      const message = String((e as Error)?.message ?? e).split("\n")[0];
      const why = message === "timeout" ? `timeout after ${seconds(waitMs)}` : message;
      this.#drop(id, `no result for step ${job.step} (${why})`, job.chunks, job.blocks);
      return null;
    } finally {
      serving.lost.delete(fail);
    }
  }

  /**
   * The result in a worker's reply to `job`, decoded into its buffers (or fresh memory), or
   * null when it is malformed or answers another request: the worker is then excluded.
   */
  #accept(
    serving: Serving,
    job: Job,
    reply: Uint8Array,
    into: "reuse" | "fresh",
  ): StepResult | null {
    const { step, blocks, chunks } = job;
    const id = serving.member.id;
    // Excluded while this request was in flight (its answer to a check was wrong): its blocks go
    // to the others.
    if (this.#declined.has(id)) return null;
    const d = decodeEnvelope(reply, {
      paramCount: this.#ws.layout.paramCount,
      ...(into === "reuse" ? { reuse: serving.buffers } : {}),
      maxBytes: this.#resultBytes(blocks.length, chunks),
    });
    const why = d.ok ? unanswered(d.envelope, this.#run, id, job, this.#spec.dtype) : null;
    if (!d.ok || why !== null) {
      const what = d.ok ? why : `${d.reason}: ${d.detail}`;
      this.#drop(id, `step ${step}: ${what}`, chunks, blocks, true);
      return null;
    }
    serving.listens = !this.#unheard.has(id);
    return (d.envelope as Envelope<"result">).body;
  }

  /** The largest result for `blocks` blocks: their sums and statistics, and the envelope. */
  #resultBytes(blocks: number, chunks: number): number {
    const size = this.#spec.dtype === "f32" ? 4 : 8;
    return blocks * (this.#ws.layout.paramCount * size + 16) + 16 * chunks + 4096;
  }

  /** Rows of the last step's batch in `blocks`. */
  #rowsOf(blocks: readonly Block[]): number {
    const { chunkRows } = this.#spec;
    const rows = this.#lastBatchRows;
    return blocks.reduce(
      (n, b) =>
        n + Math.max(0, Math.min(rows, (b.first + b.span) * chunkRows) - b.first * chunkRows),
      0,
    );
  }

  /**
   * Gives up on a worker; its blocks go to the others. A worker that is only `lost` (silent) may
   * serve again when it comes back; one `excluded` (it answered wrongly) is not asked again.
   */
  #drop(id: string, why: string, chunks: number, blocks: Block[], exclude = false): void {
    if (exclude) this.#declined.add(id);
    const serving = this.#serving.get(id);
    if (!serving) return;
    this.#serving.delete(id);
    const held = blocks.reduce((n, b) => n + Math.max(0, Math.min(b.span, chunks - b.first)), 0);
    const who = exclude
      ? `worker ${id} (${serving.member.name}) excluded from the run`
      : `worker ${id} lost`;
    this.#log(
      `${who}: ${why}; its ${held} chunk${held === 1 ? "" : "s"} go to ` +
        `${this.#serving.size} other worker${this.#serving.size === 1 ? "" : "s"}`,
    );
    this.#send(id, "leave");
  }

  /**
   * Settles a result with a NaN or an infinity, which is either the model diverging (every process
   * computes the same numbers from the same parameters and rows) or the worker broken. Another
   * worker computes the same blocks: the same numbers (`sameResult`) are divergence, and the result
   * is taken; a finite result instead is taken, and the first worker excluded. When there is no other
   * worker, or it fails, or it disagrees with a non-finite result of its own, this coordinator
   * computes the blocks itself (with the kernels every worker was checked to agree with) and its
   * numbers decide: each worker that disagrees with them is excluded. Returns the result to use.
   */
  async #check(suspect: string, got: StepResult, job: Job): Promise<StepResult> {
    const { step, chunks, blocks } = job;
    // Parameters made non-finite by this coordinator's own update give non-finite sums
    // everywhere: the divergence is already certain, and the trainer reports it.
    if (!allFinite(this.#ws.params.all)) return got;
    const other = this.#members().find((m) => m.id !== suspect)?.id;
    // The other worker fetches the suspect's rows first: it is waited for as a join is.
    const wait = Math.max(this.#options.waitMs, this.#options.timeoutMs);
    // In fresh memory: the other may hold a result of its own decoded into its buffers.
    const second = other === undefined ? null : await this.#request(other, job, wait, "fresh");
    if (second !== null && sameResult(got, second)) {
      this.#log(
        `step ${step}: worker ${other} computes the same non-finite sums as worker ${suspect}: ` +
          `the model diverges`,
      );
      return got;
    }
    if (second !== null && finiteResult(second)) {
      const why = `step ${step}: its sums have a NaN or an infinity where worker ${other}'s ` +
        `have none`;
      this.#drop(suspect, why, chunks, blocks, true);
      return second;
    }
    const own = await this.#recompute(job);
    for (const [id, result] of [[suspect, got], [other, second]] as const) {
      if (id !== undefined && result !== null && !sameResult(result, own)) {
        const why = `step ${step}: its sums are not the numbers this coordinator computes`;
        this.#drop(id, why, chunks, blocks, true);
      }
    }
    if (!finiteResult(own)) {
      this.#log(
        `step ${step}: this coordinator computes non-finite sums for worker ${suspect}'s ` +
          `blocks too: the model diverges`,
      );
    }
    return own;
  }

  /** The blocks of `job` computed on this process, as a worker would answer them. */
  async #recompute(job: Job): Promise<StepResult> {
    const t0 = performance.now();
    const { batch, rowIds, blocks, chunks } = job;
    this.#checker ??= new BlockComputer(this.#spec, 1);
    const order = rowIds === null
      ? null
      : new Int32Array(rowIds.buffer, rowIds.byteOffset, rowIds.length);
    const rows = new MemoryRows(this.#ws.x, this.#ws.y, this.#spec.features);
    const got = await this.#checker.compute(
      this.#ws.params.all,
      order === null ? batch : { begin: 0, end: batch.end - batch.begin },
      blocks,
      order,
      rows,
    );
    return {
      dtype: this.#spec.dtype,
      blocks,
      chunks,
      sums: got.sums.slice(),
      stats: got.chunkStats,
      computeMs: performance.now() - t0,
      dataMs: 0,
    };
  }

  /** Waits for and joins at least `count` idle workers. */
  async #gather(count: number, waitMs: number): Promise<void> {
    const deadline = performance.now() + waitMs;
    while (this.#serving.size < count) {
      const left = deadline - performance.now();
      if (left <= 0) {
        const present = this.#membership.members().length;
        throw new ClusterError(
          `waited ${+(waitMs / 1000).toFixed(1)} s for ${count} worker process` +
            `${count === 1 ? "" : "es"}; ${this.#serving.size} joined the run` +
            (present > this.#serving.size ? ` (${present} present in the cluster)` : ""),
        );
      }
      const askable = (m: Member) =>
        m.run === "" && !this.#serving.has(m.id) && !this.#declined.has(m.id);
      const idle = this.#membership.members().filter(askable);
      // Ask idle workers, as many as the run can use, in random order (so that two coordinators
      // starting together ask different ones); then wait for an answer or another worker to ask.
      // (Idle workers not to be asked, declined or excluded, must not count: the wait would end at
      // once, again and again, and starve the event loop.)
      for (const m of shuffled(idle.filter((m) => !this.#joining.has(m.id)))) this.#join(m);
      const asked = [...this.#joining.values()];
      // The wait for another worker ends with the round: one outliving it would pile up, with
      // its timer, round after round.
      await Promise.race([
        ...(asked.length > 0 ? [Promise.all(asked)] : []),
        this.#membership.waitFor(idle.length + 1, Math.min(left, 250), askable).catch(() => {}),
      ]);
    }
  }

  /** With no worker left: waits for one to join, else stops the run. */
  async #replaceAll(step: number): Promise<void> {
    this.#log(`no worker left in step ${step}; waiting up to ${this.#options.waitMs / 1000} s`);
    try {
      await this.#gather(1, this.#options.waitMs);
    } catch {
      throw new ClusterError(
        `no worker process left in step ${step}, and none joined within ` +
          `${(this.#options.waitMs / 1000).toFixed(0)} s`,
      );
    }
  }

  /** Asks an idle worker to serve the run, unless the run has all the workers it can use. */
  #join(member: Member): Promise<void> {
    if (this.#closed || this.#serving.has(member.id)) return Promise.resolve();
    let asking = this.#joining.get(member.id);
    if (!asking) {
      if (this.#serving.size + this.#joining.size >= this.#maxWorkers) return Promise.resolve();
      asking = this.#ask(member).finally(() => this.#joining.delete(member.id));
      this.#joining.set(member.id, asking);
    }
    return asking;
  }

  async #ask(member: Member): Promise<void> {
    const spec = this.#spec;
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "join",
      run: this.#run,
      from: this.#from,
      body: { spec, timeoutMs: this.#options.timeoutMs },
    });
    try {
      const reply = await this.#nc.request(subject("worker", member.id, "join"), bytes, {
        timeout: this.#options.timeoutMs,
      });
      this.#unanswered.delete(member.id);
      const d = decodeEnvelope(reply.data);
      if (!d.ok || d.envelope.kind !== "joined" || d.envelope.run !== this.#run) {
        this.#log(`worker ${member.id} (${member.name}) gave no valid answer to the join`);
        return;
      }
      if (!d.envelope.body.accepted) {
        // One that serves another run is asked again when it is idle; any other refusal stands.
        if (!d.envelope.body.note.startsWith(BUSY_NOTE)) this.#declined.add(member.id);
        this.#log(`worker ${member.id} (${member.name}) declined: ${d.envelope.body.note}`);
        return;
      }
      if (this.#closed) return;
      if (spec !== this.#spec) {
        // The variant was pinned while this worker joined with the old spec: it joins anew.
        this.#send(member.id, "leave");
        return;
      }
      const theirs = d.envelope.body.identity;
      if (theirs !== this.#identity) return await this.#disagree(member, theirs);
      this.#serving.set(member.id, {
        member,
        lost: new Set(),
        buffers: new DecodeBuffers(),
        steps: new EncodeBuffer(),
        listens: false,
      });
      this.#log(
        `worker ${member.id} (${member.name}, ${member.runtime}, ${member.threads} ` +
          `thread${member.threads === 1 ? "" : "s"}) joined`,
      );
    } catch (e) {
      // Asked again every heartbeat while present: said once until it answers.
      if (this.#unanswered.has(member.id)) return;
      this.#unanswered.add(member.id);
      this.#log(
        `worker ${member.id} (${member.name}) did not answer the join: ${(e as Error).message}` +
          "; asked again while it is present",
      );
    }
  }

  /** The wasm build every worker of the run computes with. */
  get kernelVariant(): WasmVariant | null {
    return this.#spec.kernelVariant;
  }

  /**
   * A worker that computes other bits than the coordinator. Before the first step, relaxed SIMD
   * (fused where one runtime fuses and another does not) gives way to the plain build for every
   * process; otherwise the worker is not used.
   */
  async #disagree(member: Member, theirs: string): Promise<void> {
    this.#send(member.id, "leave");
    const who = `worker ${member.id} (${member.name}, ${member.runtime})`;
    if (this.#spec.kernelVariant === "relaxed" && this.#steps === 0) {
      this.#spec = { ...this.#spec, kernelVariant: "plain" };
      this.#identity = await kernelIdentity(this.#spec.backend, "plain", this.#spec.dtype);
      for (const id of this.#serving.keys()) this.#send(id, "leave");
      this.#serving.clear();
      this.#log(
        `${who} computes other bits with relaxed SIMD: every process runs the plain build ` +
          `(the result equals ${option("workers")} 0 ${option("kernelVariant")} plain)`,
      );
      return;
    }
    this.#declined.add(member.id);
    this.#log(
      `${who} computes other bits than this coordinator (kernel identity ${theirs}, ` +
        `here ${this.#identity}): not used`,
    );
  }

  /** Tells a worker that it no longer serves this run. */
  #send(id: string, kind: "leave"): void {
    this.#nc.publish(
      subject("worker", id, kind),
      encodeEnvelope({ v: ENVELOPE_VERSION, kind, run: this.#run, from: this.#from, body: {} }),
    );
  }

  /**
   * Asks again every worker present that could serve the run and is not counted. Membership
   * reports changes only; a worker whose join was lost or not answered in time (its link slow to
   * come back) keeps an unchanged lease, and would otherwise never be asked again.
   */
  #recruit(): void {
    if (this.#closed) return;
    for (const member of this.#membership.members()) {
      const ours = member.run === "" || member.run === this.#run;
      if (ours && !this.#serving.has(member.id) && !this.#declined.has(member.id)) {
        this.#join(member).catch(() => {});
      }
    }
  }

  #onMembership(type: "join" | "update" | "leave", member: Member): void {
    if (this.#closed) return;
    const serving = this.#serving.get(member.id);
    if (type === "leave" && serving) {
      const inFlight = [...serving.lost];
      for (const fail of inFlight) fail("its lease ended");
      if (inFlight.length === 0) {
        this.#serving.delete(member.id);
        this.#log(`worker ${member.id} (${member.name}) left`);
      }
      return;
    }
    // A worker that is or becomes idle while the run goes on takes work from the next step. So
    // does one whose lease names this run while we do not count it: it accepted a join after we
    // had stopped waiting for its answer (its link was slow to come back), and it would otherwise
    // sit out the rest of the run; asking again is answered at once, a join being idempotent.
    const ours = member.run === "" || member.run === this.#run;
    if (type !== "leave" && ours && !serving && !this.#declined.has(member.id)) {
      this.#join(member).catch(() => {});
    }
  }
}

/** Why `e` is not the answer to `job` sent to worker `id` of run `run`; null when it is. */
function unanswered(e: Envelope, run: string, id: string, job: Job, dtype: string): string | null {
  if (e.kind !== "result") return `a ${e.kind} message instead of a result`;
  if (e.run !== run) return `a result for run ${e.run}`;
  if (e.step !== job.step) return `a result for step ${e.step}`;
  if (e.from !== id) return `a result from ${e.from}`;
  if (e.body.dtype !== dtype) return `a result in ${e.body.dtype}`;
  if (e.body.chunks !== job.chunks) return `a result for a batch of ${e.body.chunks} chunks`;
  if (JSON.stringify(e.body.blocks) !== JSON.stringify(job.blocks)) {
    return "a result for other blocks";
  }
  return null;
}

/** Whether a result's sums and loss sums are all finite (its correct counts are, once decoded). */
function finiteResult(r: StepResult): boolean {
  if (!allFinite(r.sums)) return false;
  for (let i = 0; i < r.stats.length; i += 2) if (!Number.isFinite(r.stats[i])) return false;
  return true;
}

/**
 * Whether two results for the same blocks hold the same numbers bit for bit, where any NaN equals
 * any NaN: runtimes do not keep a NaN's sign and payload alike (a Deno and a Bun worker diverging
 * together give NaNs of different bits), and a NaN means divergence whatever its bits.
 */
function sameResult(a: StepResult, b: StepResult): boolean {
  return a.dtype === b.dtype && sameNumbers(a.sums, b.sums) && sameNumbers(a.stats, b.stats);
}

/** `Object.is` on each pair: equal bits for numbers (0 and −0 differ), and NaN equal to NaN. */
function sameNumbers(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function sameBlocks(a: readonly Block[] | undefined, b: readonly Block[]): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((x, i) => x.first === b[i].first && x.span === b[i].span);
}

/** The blocks of workers that failed, dealt whole to those still serving. */
function redeal(
  pending: Map<string, Block[]>,
  members: readonly { id: string }[],
): Map<string, Block[]> {
  const orphans = [...pending.values()].flat().sort((a, b) => a.first - b.first);
  const dealt = new Map<string, Block[]>(members.map((m) => [m.id, []]));
  orphans.forEach((block, i) => dealt.get(members[i % members.length].id)!.push(block));
  return dealt;
}

/** The training rows as the workspace holds them (in its dtype), widened to float64. */
function publishedRows(ws: WorkspaceViews): Dataset {
  const { samples, features } = ws.layout.shape;
  return {
    x: Float64Array.from(ws.x),
    y: Float64Array.from(ws.y),
    samples,
    features,
    featureNames: Array.from({ length: features }, (_, k) => `x${k}`),
  };
}

/** `items` in random order. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function randomRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "r" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `ms` as seconds for a log line: "2 s", "0.25 s". */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(3))} s`;
}
