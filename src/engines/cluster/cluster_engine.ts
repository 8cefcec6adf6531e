import type { NatsConnection } from "@nats-io/transport-node";
import { chunkCount } from "../../core/shards.ts";
import type { RunSpec } from "../../core/run_spec.ts";
import type { StepEngine, StepInput, StepOutput, TransportReport } from "../../core/step_engine.ts";
import type { WorkspaceViews } from "../../core/workspace.ts";
import type { Dataset } from "../../data/dataset.ts";
import { datasetFingerprint } from "../../data/fingerprint.ts";
import { option } from "../../errors.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import type { BackendName } from "../../kernels/select.ts";
import type { WasmVariant } from "../../kernels/wasm.ts";
import { kernelIdentity } from "../../kernels/kernel_identity.ts";
import { type Block, deal } from "./assignment.ts";
import { BlockCombiner } from "./block_combiner.ts";
import { ClusterError } from "./cluster_error.ts";
import { connectCluster, redactUrl } from "./connection.ts";
import { publishDataset } from "./dataset_store.ts";
import { decodeEnvelope, encodeEnvelope, ENVELOPE_VERSION, type StepResult } from "./envelope.ts";
import { type Member, Membership } from "./membership.ts";
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
  /** Fails the requests in flight to it, when its lease ends. */
  lost: ((why: string) => void) | null;
}

/**
 * The coordinator of a run on worker processes: each step it deals the batch's chunks to the
 * worker processes in aligned blocks, sends each its blocks with the parameters over NATS, and
 * finishes the reduction tree over the block sums they send back, so that the run has the bits of
 * `--workers 0`. A worker that stops answering (killed, its host gone, its link cut) loses its
 * blocks to the others within the timeout; one that joins takes work from the next step on.
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
  /** Workers that declined this run: not asked again. */
  readonly #declined = new Set<string>();
  /** Workers asked to join and not answered yet, with the asking. */
  readonly #joining = new Map<string, Promise<void>>();
  readonly #options: Required<Omit<ClusterOptions, "caFile">>;
  readonly #log: (line: string) => void;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #steps = 0;
  #bytes = 0;
  #syncMs = 0;
  #slowestStepMs = 0;
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
    this.#log = context.onLog ?? (() => {});
    const alive = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "alive",
      run,
      from: "c" + run,
      body: {},
    });
    this.#heartbeat = setInterval(
      () => nc.publish(subject("run", run, "alive"), alive),
      Math.max(50, Math.floor(options.timeoutMs / 4)),
    );
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
    const chunks = chunkCount(rows, this.#spec.chunkRows);
    this.#combiner.begin(chunks);
    const step = ++this.#steps;
    const rowIds = order === null
      ? null
      : new Uint32Array(order.buffer, order.byteOffset + 4 * batch.begin, rows);
    let slowestWorkerMs = 0;
    let pending: Map<string, Block[]> | null = null;
    while (!this.#combiner.complete) {
      if (this.#serving.size === 0) await this.#replaceAll(step);
      pending = pending === null ? deal(chunks, this.#members()) : redeal(pending, this.#members());
      const attempts = [...pending].filter(([, blocks]) => blocks.length > 0).map(
        async ([id, blocks]) => {
          const got = await this.#request(id, step, batch, rowIds, blocks, chunks);
          if (got === null) return;
          slowestWorkerMs = Math.max(slowestWorkerMs, got.computeMs + got.dataMs);
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
    }
    const t1 = performance.now();
    const out = this.#combiner.finish(input.learningRate, rows, input.step);
    const ms = performance.now() - t0;
    this.#slowestStepMs = Math.max(this.#slowestStepMs, ms);
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
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const id of this.#serving.keys()) this.#send(id, "leave");
    this.#serving.clear();
    this.#membership.stop();
    await this.#nc.drain().catch(() => {});
  }

  get #from(): string {
    return "c" + this.#run;
  }

  #members(): { id: string; threads: number }[] {
    return [...this.#serving.values()].map((s) => ({ id: s.member.id, threads: s.member.threads }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Sends one worker its blocks of the step; null when it failed (and is dropped from the run). */
  async #request(
    id: string,
    step: number,
    batch: { begin: number; end: number },
    rowIds: Uint32Array | null,
    blocks: Block[],
    chunks: number,
  ): Promise<StepResult | null> {
    const serving = this.#serving.get(id);
    if (!serving) return null;
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "step",
      run: this.#run,
      step,
      from: this.#from,
      body: {
        dtype: this.#spec.dtype,
        params: this.#ws.params.all,
        begin: batch.begin,
        end: batch.end,
        rows: rowIds,
        chunkRows: this.#spec.chunkRows,
        blocks,
      },
    });
    const timeout = Math.max(this.#options.timeoutMs, SLOW_STEPS * this.#slowestStepMs);
    const lost = new Promise<never>((_, reject) => {
      serving.lost = (why) => reject(new Error(why));
    });
    lost.catch(() => {});
    let reply;
    try {
      reply = await Promise.race([
        this.#nc.request(subject("worker", id, "step"), bytes, { timeout }),
        lost,
      ]);
    } catch (e) {
      const why = String((e as Error)?.message ?? e).split("\n")[0];
      this.#drop(id, `no result for step ${step} (${why})`, chunks, blocks);
      return null;
    } finally {
      serving.lost = null;
    }
    this.#bytes += bytes.byteLength + reply.data.byteLength;
    const d = decodeEnvelope(reply.data, { paramCount: this.#ws.layout.paramCount });
    const e = d.ok ? d.envelope : null;
    const valid = e !== null && e.kind === "result" && e.run === this.#run && e.step === step &&
      e.from === id && e.body.dtype === this.#spec.dtype && e.body.chunks === chunks &&
      JSON.stringify(e.body.blocks) === JSON.stringify(blocks);
    if (!valid) {
      const why = d.ok ? "a result that does not answer the request" : `${d.reason}: ${d.detail}`;
      this.#drop(id, `step ${step}: ${why}`, chunks, blocks);
      return null;
    }
    return (e as { body: StepResult }).body;
  }

  /** Gives up on a worker for the rest of the run; its blocks go to the others. */
  #drop(id: string, why: string, chunks: number, blocks: Block[]): void {
    if (!this.#serving.delete(id)) return;
    const held = blocks.reduce((n, b) => n + Math.max(0, Math.min(b.span, chunks - b.first)), 0);
    this.#log(
      `worker ${id} lost: ${why}; its ${held} chunk${held === 1 ? "" : "s"} go to ` +
        `${this.#serving.size} other worker${this.#serving.size === 1 ? "" : "s"}`,
    );
    this.#send(id, "leave");
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
      const idle = this.#membership.members().filter((m) =>
        m.run === "" && !this.#serving.has(m.id) && !this.#declined.has(m.id)
      );
      // Ask every idle worker; then wait for an answer or a change in who is there.
      const asked = idle.map((m) => this.#join(m));
      await Promise.race([
        ...(asked.length > 0 ? [Promise.all(asked)] : []),
        this.#membership.waitFor(idle.length + 1, left, (m) => m.run === "").catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, Math.min(left, 250))),
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

  /** Asks an idle worker to serve the run. */
  #join(member: Member): Promise<void> {
    if (this.#closed || this.#serving.has(member.id)) return Promise.resolve();
    let asking = this.#joining.get(member.id);
    if (!asking) {
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
      const d = decodeEnvelope(reply.data);
      if (!d.ok || d.envelope.kind !== "joined" || d.envelope.run !== this.#run) {
        this.#log(`worker ${member.id} (${member.name}) gave no valid answer to the join`);
        return;
      }
      if (!d.envelope.body.accepted) {
        this.#declined.add(member.id);
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
      this.#serving.set(member.id, { member, lost: null });
      this.#log(
        `worker ${member.id} (${member.name}, ${member.runtime}, ${member.threads} ` +
          `thread${member.threads === 1 ? "" : "s"}) joined`,
      );
    } catch (e) {
      this.#log(
        `worker ${member.id} (${member.name}) did not answer the join: ${(e as Error).message}`,
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

  #onMembership(type: "join" | "update" | "leave", member: Member): void {
    if (this.#closed) return;
    const serving = this.#serving.get(member.id);
    if (type === "leave" && serving) {
      serving.lost?.(`its lease ended`);
      if (!serving.lost) {
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

function randomRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "r" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
