/**
 * A broken or hostile worker for the cluster tests: it joins the cluster and a run exactly as a
 * worker does (a lease in the presence bucket, the join answered with the run's kernel identity),
 * then answers every step request it gets wrongly, in one chosen way. It lives in the tests, so
 * that no fault switch lives in the worker the project ships.
 */
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { connectCluster } from "../../src/engines/cluster/connection.ts";
import {
  coveredChunks,
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
} from "../../src/engines/cluster/envelope.ts";
import { WorkerLease } from "../../src/engines/cluster/membership.ts";
import { subject } from "../../src/engines/cluster/subjects.ts";
import { kernelIdentity } from "../../src/kernels/kernel_identity.ts";

/** How a rogue answers a step. */
export const MISDEEDS = [
  /** Well-formed, every gradient sum NaN: a broken worker, or one divergence would explain. */
  "nan_sums",
  /** A correct count that is NaN. */
  "nan_count",
  /** Random bytes. */
  "random",
  /** A well-formed result cut short. */
  "truncated",
  /** A result of another run. */
  "wrong_run",
  /** A result of the step before the one asked (of step 0, malformed, when asked step 1). */
  "stale_step",
  /** A result of the step after the one asked. */
  "future_step",
  /** Gradient sums one element short. */
  "shape",
  /** A result with a megabyte more sums than asked. */
  "oversize",
] as const;
export type Misdeed = typeof MISDEEDS[number];

export class RogueWorker {
  readonly #nc: NatsConnection;
  readonly #misdeed: Misdeed;
  /** Step requests answered so far. */
  answered = 0;

  #lease: WorkerLease | null = null;

  /** Listens under `id` at once: the lease, which tells coordinators of it, comes after. */
  private constructor(nc: NatsConnection, readonly id: string, misdeed: Misdeed) {
    this.#nc = nc;
    this.#misdeed = misdeed;
    nc.subscribe(`${subject("worker", id)}.*`, {
      callback: (error, msg) => {
        if (!error) this.#handle(msg).catch(() => {});
      },
    });
  }

  /** Connects to `url`, takes a lease as worker `name`, and answers steps by `misdeed`. */
  static async start(url: string, misdeed: Misdeed, name: string): Promise<RogueWorker> {
    const nc = await connectCluster(url, { name });
    const id = "w" + crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const rogue = new RogueWorker(nc, id, misdeed);
    const presence = { name, runtime: "rogue", threads: 1, backends: ["js", "wasm", "blas"] };
    rogue.#lease = await WorkerLease.start(nc, presence, { id });
    return rogue;
  }

  async stop(): Promise<void> {
    await this.#lease?.stop().catch(() => {});
    await this.#nc.close();
  }

  async #handle(msg: Msg): Promise<void> {
    const d = decodeEnvelope(msg.data);
    if (!d.ok) return;
    const e = d.envelope;
    if (e.kind === "join") {
      const { spec } = e.body;
      const identity = await kernelIdentity(spec.backend, spec.kernelVariant, spec.dtype);
      msg.respond(encodeEnvelope({
        v: ENVELOPE_VERSION,
        kind: "joined",
        run: e.run,
        from: this.id,
        body: { accepted: true, note: "", identity },
      }));
    } else if (e.kind === "step") {
      msg.respond(this.#answer(e));
      this.answered++;
    }
  }

  #answer(e: Envelope<"step">): Uint8Array {
    const req = e.body;
    const chunks = Math.ceil((req.end - req.begin) / req.chunkRows);
    const floats = (n: number) => req.dtype === "f32" ? new Float32Array(n) : new Float64Array(n);
    const count = req.params.length * req.blocks.length;
    const sums = this.#misdeed === "shape"
      ? floats(count - 1)
      : this.#misdeed === "oversize"
      ? floats(count + (2 ** 20) / (req.dtype === "f32" ? 4 : 8))
      : floats(count);
    const stats = new Float64Array(2 * coveredChunks(req.blocks, chunks));
    if (this.#misdeed === "nan_sums") sums.fill(NaN);
    if (this.#misdeed === "nan_count") stats[1] = NaN;
    const step = this.#misdeed === "stale_step"
      ? e.step! - 1
      : this.#misdeed === "future_step"
      ? e.step! + 1
      : e.step!;
    if (this.#misdeed === "random") return crypto.getRandomValues(new Uint8Array(256));
    const bytes = encodeEnvelope({
      v: ENVELOPE_VERSION,
      kind: "result",
      run: this.#misdeed === "wrong_run" ? "rforged" : e.run,
      // Step 0 does not exist: encoded as sent, it is what a confused worker would send.
      step,
      from: this.id,
      body: { dtype: req.dtype, blocks: req.blocks, chunks, sums, stats, computeMs: 1, dataMs: 0 },
    });
    return this.#misdeed === "truncated" ? bytes.subarray(0, bytes.length >> 1) : bytes;
  }
}
