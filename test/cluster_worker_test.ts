/**
 * A worker process's control path while a step is stuck: the test plays the coordinator against a
 * real `ClusterWorker` and nats-server, and makes one data piece unreadable for ever (its chunks
 * purged from the object store while its metadata stays, so the store's reader waits for chunks
 * that never come, as over a link gone quiet). Joins must be answered and leaves acted on at once,
 * the stuck step abandoned when its run is given up, and every piece fetch bounded by the run's
 * timeout. A run's broadcast steps must be answered, in order with its own steps, by the workers
 * they deal blocks to, and heard only while the worker serves the run. And an idle worker whose
 * connection goes silent (through a proxy) must come back on its own.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { RunSpec } from "../src/core/run_spec.ts";
import { generate } from "../src/data/generators.ts";
import { datasetFingerprint } from "../src/data/fingerprint.ts";
import { ClusterWorker } from "../src/engines/cluster/cluster_worker.ts";
import { connectCluster } from "../src/engines/cluster/connection.ts";
import { DATA_BUCKET, publishDataset } from "../src/engines/cluster/dataset_store.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
  type JoinReply,
} from "../src/engines/cluster/envelope.ts";
import { type NatsServer, startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { subject } from "../src/engines/cluster/subjects.ts";
import { Membership } from "../src/engines/cluster/membership.ts";
import { eventually, natsSkip } from "./cluster/nats_fixture.ts";
import { startTcpProxy } from "./cluster/tcp_proxy.ts";

const CASE = { timeout: 60_000, skip: natsSkip };
const ROWS = 64;
const FEATURES = 3;
const HIDDEN = 4;
/** Pieces (and chunks) of 16 rows: piece 1 is rows 16–31, the one made unreadable. */
const CHUNK_ROWS = 16;
const PARAMS = HIDDEN * FEATURES + 2 * HIDDEN + 1;
/** Chunks 0–1 need piece 1 (stuck); chunks 2–3 do not. */
const STUCK = [{ first: 0, span: 2 }];
const FINE = [{ first: 2, span: 2 }];

let server: NatsServer | undefined;
let nc: NatsConnection | undefined;
let worker: ClusterWorker | undefined;
const logged: string[] = [];
let spec: RunSpec;

before(async () => {
  if (natsSkip) return;
  server = await startNatsServer({});
  nc = await connectCluster(server.url);
  const data = generate("xor", ROWS, FEATURES, 1);
  const { manifest } = await publishDataset(nc, data, CHUNK_ROWS);
  const os = await new Objm(nc).open(DATA_BUCKET);
  const info = await os.info(`${manifest.fingerprint}-${CHUNK_ROWS}/1`);
  assert.ok(info);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.purge(`OBJ_${DATA_BUCKET}`, { filter: `$O.${DATA_BUCKET}.C.${info.nuid}` });
  spec = {
    dtype: "f64",
    features: FEATURES,
    hidden: HIDDEN,
    samples: ROWS,
    batchSize: ROWS,
    chunkRows: CHUNK_ROWS,
    backend: "js",
    kernelVariant: null,
    dataFingerprint: datasetFingerprint(data),
  };
  worker = await ClusterWorker.start({
    url: server.url,
    threads: 1,
    name: "stuck",
    runtime: "test",
    onLog: (line) => logged.push(line),
  });
});

after(async () => {
  await worker?.stop();
  await nc?.close();
  await server?.stop();
});

function envelope(run: string, kind: "join" | "leave" | "alive", body: object): Uint8Array {
  return encodeEnvelope(
    {
      v: ENVELOPE_VERSION,
      kind,
      run,
      from: "c" + run,
      body,
    } as Parameters<typeof encodeEnvelope>[0],
  );
}

/** Asks the worker to join `run`; the answer and how long it took. */
async function join(run: string, timeoutMs: number): Promise<{ reply: JoinReply; ms: number }> {
  const t0 = performance.now();
  const msg = await nc!.request(
    subject("worker", worker!.id, "join"),
    envelope(run, "join", { spec, timeoutMs }),
    { timeout: 10_000 },
  );
  const d = decodeEnvelope(msg.data);
  assert.ok(d.ok && d.envelope.kind === "joined", "a join answer");
  return { reply: d.envelope.body as JoinReply, ms: performance.now() - t0 };
}

function leave(run: string): void {
  nc!.publish(subject("worker", worker!.id, "leave"), envelope(run, "leave", {}));
}

/** Sends step `step` of `run` for `blocks`; resolves with the result's kind, or rejects. */
async function step(
  run: string,
  n: number,
  blocks: readonly { first: number; span: number }[],
  timeoutMs: number,
): Promise<string> {
  const bytes = encodeEnvelope({
    v: ENVELOPE_VERSION,
    kind: "step",
    run,
    step: n,
    from: "c" + run,
    body: {
      dtype: "f64",
      params: new Float64Array(PARAMS).fill(0.1),
      begin: 0,
      end: ROWS,
      rows: null,
      chunkRows: CHUNK_ROWS,
      blocks,
    },
  });
  const msg = await nc!.request(subject("worker", worker!.id, "step"), bytes, {
    timeout: timeoutMs,
  });
  const d = decodeEnvelope(msg.data, { paramCount: PARAMS });
  assert.ok(d.ok, "a valid result");
  assert.equal(d.envelope.step, n);
  return d.envelope.kind;
}

describe("cluster worker with a step waiting for a piece that never comes", () => {
  it(
    "answers a join at once, releases the run on a leave at once, then serves the next",
    CASE,
    async () => {
      // The run's timeout bounds the stuck fetch; far longer than this test's steps take.
      assert.equal((await join("ra", 20_000)).reply.accepted, true);
      let answered = false;
      step("ra", 1, STUCK, 20_000).then(() => answered = true, () => {});
      // The step is in the worker's hands, waiting for piece 1.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const busy = await join("rb", 60_000);
      assert.equal(busy.reply.accepted, false);
      assert.match(busy.reply.note, /busy with run ra/);
      assert.ok(busy.ms < 5_000, `the join waited ${busy.ms} ms`);
      leave("ra");
      assert.ok(
        await eventually(() => logged.some((l) => l === "left run ra: the run ended"), 5_000),
        logged.join("\n"),
      );
      const next = await join("rb", 60_000);
      assert.equal(next.reply.accepted, true, next.reply.note);
      // The step queue is free again: the abandoned step of ra holds nothing up.
      assert.equal(await step("rb", 1, FINE, 10_000), "result");
      assert.equal(answered, false, "the abandoned step is never answered");
      leave("rb");
      assert.ok(await eventually(() => logged.some((l) => l.startsWith("left run rb")), 5_000));
    },
  );

  it("gives up a piece after the run's timeout, and goes on serving the run", CASE, async () => {
    assert.equal((await join("rc", 1_500)).reply.accepted, true);
    const alive = setInterval(
      () => nc!.publish(subject("run", "rc", "alive"), envelope("rc", "alive", {})),
      200,
    );
    try {
      const t0 = performance.now();
      step("rc", 1, STUCK, 30_000).catch(() => {});
      const gaveUp = (l: string) => /piece 1 cannot be read \(no answer within 1500 ms\)/.test(l);
      assert.ok(await eventually(() => logged.some(gaveUp), 15_000), logged.join("\n"));
      const ms = performance.now() - t0;
      assert.ok(!logged.some((l) => l.startsWith("left run rc")), logged.join("\n"));
      assert.equal(await step("rc", 2, FINE, 10_000), "result");
      console.log(`a stuck piece was given up, and the step unanswered, after ${ms.toFixed(0)} ms`);
    } finally {
      clearInterval(alive);
    }
    leave("rc");
  });
});

/** Publishes step `n` of `run` to its workers, dealing each of `deals`; answers go to `reply`. */
function broadcast(
  run: string,
  n: number,
  deals: { worker: string; blocks: { first: number; span: number }[] }[],
  reply: string,
  from = "c" + run,
): void {
  const bytes = encodeEnvelope({
    v: ENVELOPE_VERSION,
    kind: "broadcast",
    run,
    step: n,
    from,
    body: {
      dtype: "f64",
      params: new Float64Array(PARAMS).fill(0.1),
      begin: 0,
      end: ROWS,
      rows: null,
      chunkRows: CHUNK_ROWS,
      deals,
    },
  });
  nc!.publish(subject("run", run, "step"), bytes, { reply });
}

describe("cluster worker serving a run's broadcast steps", () => {
  it(
    "answers those that deal it blocks, in order with its own steps, and hears none after leaving",
    CASE,
    async () => {
      assert.equal((await join("rf", 20_000)).reply.accepted, true);
      const inbox = createInbox();
      const replies: Msg[] = [];
      const sub = nc!.subscribe(`${inbox}.*`, {
        callback: (_, msg) => {
          replies.push(msg);
        },
      });
      await nc!.flush();
      const id = worker!.id;
      const other = { worker: "wother", blocks: [{ first: 0, span: 2 }] };
      const answers = () =>
        replies.map((msg) => {
          const d = decodeEnvelope(msg.data, { paramCount: PARAMS });
          assert.ok(d.ok && d.envelope.kind === "result", "a valid result");
          assert.equal(d.envelope.from, id);
          assert.deepEqual(d.envelope.body.blocks, FINE);
          return `${msg.subject.slice(inbox.length + 1)}:${d.envelope.step}`;
        });
      try {
        broadcast("rf", 1, [other, { worker: id, blocks: FINE }], `${inbox}.1`);
        // Dealt nothing: ignored. From another coordinator: dropped.
        broadcast("rf", 2, [other], `${inbox}.2`);
        broadcast("rf", 3, [{ worker: id, blocks: FINE }], `${inbox}.3`, "cforged");
        // Its own step between two broadcasts is computed between them.
        const own = step("rf", 4, FINE, 10_000);
        broadcast("rf", 5, [{ worker: id, blocks: FINE }, other], `${inbox}.5`);
        assert.equal(await own, "result");
        assert.ok(await eventually(() => replies.length >= 2, 10_000), logged.join("\n"));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(answers(), ["1:1", "5:5"]);
        assert.ok(
          logged.some((l) =>
            /dropped a message \(broadcast: another run; run rf from cforged/.test(l)
          ),
          logged.join("\n"),
        );
        leave("rf");
        assert.ok(await eventually(() => logged.includes("left run rf: the run ended"), 5_000));
        // No one listens on the run's subject now: the server says so on the reply subject.
        broadcast("rf", 6, [{ worker: id, blocks: FINE }], `${inbox}.6`);
        assert.ok(await eventually(() => replies.length === 3, 5_000));
        const last = replies.pop()!;
        assert.equal(last.subject, `${inbox}.6`);
        assert.equal(last.headers?.code, 503, "no responders");
        assert.deepEqual(answers(), ["1:1", "5:5"]);
      } finally {
        sub.unsubscribe();
      }
    },
  );
});

describe("cluster worker whose connection goes silent while it is idle", () => {
  it("connects anew on its own, puts its lease again and answers joins", CASE, async () => {
    await using proxy = await startTcpProxy(server!.port);
    const members = await Membership.watch(nc!);
    const lines: string[] = [];
    const cut = await ClusterWorker.start({
      url: proxy.url,
      threads: 1,
      name: "cut",
      runtime: "test",
      onLog: (line) => lines.push(line),
    });
    const present = () => members.members().some((m) => m.id === cut.id);
    try {
      assert.ok(await eventually(present, 10_000));
      // What was sent to it and what it sends are lost from now on, with no error, as over a cut
      // link; nothing but its own lease's unanswered puts can tell it.
      proxy.silence();
      assert.ok(await eventually(() => !present(), 15_000), "the lease did not lapse");
      const t0 = performance.now();
      assert.ok(await eventually(present, 30_000), `not back on its own: ${lines.join("\n")}`);
      console.log(`the lease was back ${(performance.now() - t0).toFixed(0)} ms after it lapsed`);
      assert.ok(lines.some((l) => l.includes("connecting anew")), lines.join("\n"));
      const reply = await nc!.request(
        subject("worker", cut.id, "join"),
        envelope("rd", "join", { spec, timeoutMs: 10_000 }),
        { timeout: 10_000 },
      );
      const d = decodeEnvelope(reply.data);
      assert.ok(d.ok && d.envelope.kind === "joined" && d.envelope.body.accepted, "joined");
      nc!.publish(subject("worker", cut.id, "leave"), envelope("rd", "leave", {}));
    } finally {
      members.stop();
      await cut.stop();
    }
  });
});
