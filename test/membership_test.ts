import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { ClusterError } from "../src/engines/cluster/cluster_error.ts";
import { connectCluster, reconnectCluster } from "../src/engines/cluster/connection.ts";
import { encodeEnvelope, ENVELOPE_VERSION } from "../src/engines/cluster/envelope.ts";
import {
  Membership,
  type MembershipEvent,
  PRESENCE_BUCKET,
  WorkerLease,
} from "../src/engines/cluster/membership.ts";
import { startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { scriptCommandLine } from "../src/runtime/runtimes.ts";
import { eventually, natsSkip as skip } from "./cluster/nats_fixture.ts";
import { startTcpProxy } from "./cluster/tcp_proxy.ts";

const CHILD = fileURLToPath(new URL("./cluster/lease_child.ts", import.meta.url));
const LEASE_MS = 1_000;
const presence = { name: "host-a", runtime: "deno 2.9.6", threads: 2, backends: ["js", "wasm"] };

async function withCluster(
  body: (nc: NatsConnection, url: string) => Promise<void>,
): Promise<void> {
  await using server = await startNatsServer();
  const nc = await connectCluster(server.url);
  try {
    await body(nc, server.url);
  } finally {
    await nc.close();
  }
}

describe("WorkerLease and Membership", { skip }, () => {
  it("see workers join, change run and leave, whoever came first", () =>
    withCluster(async (nc) => {
      const early = await WorkerLease.start(nc, presence, { id: "early", leaseMs: LEASE_MS });
      const events: MembershipEvent[] = [];
      const members = await Membership.watch(nc, { onEvent: (e) => events.push(e) });
      try {
        assert.equal(members.ttlMs, LEASE_MS, "the bucket's TTL, set by whoever created it");
        assert.equal(early.ttlMs, LEASE_MS);
        const late = await WorkerLease.start(nc, { ...presence, threads: 8 }, { id: "late" });
        const both = await members.waitFor(2, 10_000);
        assert.deepEqual(both.map((m) => [m.id, m.threads, m.run]), [
          ["early", 2, ""],
          ["late", 8, ""],
        ]);
        assert.deepEqual(both[0].backends, ["js", "wasm"]);
        await late.serve("run-7");
        assert.ok(await eventually(() => members.members()[1].run === "run-7", 5_000));
        await late.stop();
        assert.ok(await eventually(() => members.members().length === 1, 5_000));
        assert.deepEqual(events.map((e) => [e.type, e.member.id, "why" in e ? e.why : ""]), [
          ["join", "early", ""],
          ["join", "late", ""],
          ["update", "late", ""],
          ["leave", "late", "left"],
        ]);
        // A live lease is renewed: the early worker is still there three lease lengths on.
        await new Promise((resolve) => setTimeout(resolve, 3 * LEASE_MS));
        assert.deepEqual(members.members().map((m) => m.id), ["early"]);
      } finally {
        members.stop();
        await early.stop();
      }
    }));

  it("gives up waiting for too few workers with one line saying how many joined", () =>
    withCluster(async (nc) => {
      const lease = await WorkerLease.start(nc, presence, { leaseMs: LEASE_MS });
      const members = await Membership.watch(nc);
      try {
        const started = Date.now();
        await assert.rejects(members.waitFor(3, 500), (e) => {
          assert.ok(e instanceof ClusterError);
          assert.equal(e.message, "waited 0.5 s for 3 worker processes; 1 joined");
          return true;
        });
        assert.ok(Date.now() - started < 5_000);
        await assert.rejects(members.waitFor(1, 300, (m) => m.threads > 2), /; none joined$/);
      } finally {
        members.stop();
        await lease.stop();
      }
    }));

  it("drops leases that are not valid presence records, saying why", () =>
    withCluster(async (nc) => {
      const rejects: string[] = [];
      const members = await Membership.watch(nc, {
        leaseMs: LEASE_MS,
        onReject: (reason, detail) => rejects.push(`${reason}: ${detail}`),
      });
      try {
        const kv = await new Kvm(nc).open(PRESENCE_BUCKET);
        await kv.put("junk", Uint8Array.of(0xc1, 2, 3));
        await kv.put(
          "impostor",
          encodeEnvelope({
            v: ENVELOPE_VERSION,
            kind: "presence",
            run: "",
            from: "someone",
            body: presence,
          }),
        );
        await kv.put(
          "thin",
          encodeEnvelope({
            v: ENVELOPE_VERSION,
            kind: "presence",
            run: "",
            from: "thin",
            body: { ...presence, threads: 0 },
          }),
        );
        assert.ok(await eventually(() => rejects.length === 3, 5_000), rejects.join("; "));
        assert.match(rejects[0], /^not_msgpack: lease junk: /);
        assert.equal(rejects[1], "shape: lease impostor names worker someone");
        assert.match(rejects[2], /^shape: lease thin: threads/);
        assert.deepEqual(members.members(), []);
      } finally {
        members.stop();
      }
    }));

  it("renews a lease as soon as its connection is back, not after a put lost with the old one", async () => {
    await using server = await startNatsServer();
    await using proxy = await startTcpProxy(server.port);
    const watcher = await connectCluster(server.url);
    const nc = await connectCluster(proxy.url);
    const members = await Membership.watch(watcher, { leaseMs: LEASE_MS });
    const lease = await WorkerLease.start(nc, presence, { id: "cut", leaseMs: LEASE_MS });
    let back = 0;
    (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") back = Date.now();
    })().catch(() => {});
    try {
      await members.waitFor(1, 10_000);
      // The link goes silent: renewals are lost in it (a put in flight, never answered) and the
      // lease lapses.
      proxy.silence();
      assert.ok(await eventually(() => members.members().length === 0, 10_000));
      // What the worker does when the server does not answer its ping: a connection anew. The put
      // lost in the old one would time out only after 5 s, and renewals waited for it.
      await reconnectCluster(nc, 200);
      assert.ok(await eventually(() => back > 0, 10_000), "the client did not reconnect");
      const renewed = await eventually(() => members.members().length === 1, 2_500);
      assert.ok(renewed, `not renewed within 2.5 s of the reconnection`);
      console.log(`renewed ${Date.now() - back} ms after the reconnection`);
    } finally {
      members.stop();
      await lease.stop();
      await nc.close();
      await watcher.close();
    }
  });

  it("counts a killed worker process as gone within the lease's length", () =>
    withCluster(async (nc, url) => {
      const events: MembershipEvent[] = [];
      const members = await Membership.watch(nc, {
        leaseMs: LEASE_MS,
        onEvent: (e) => events.push(e),
      });
      const [command, ...args] = scriptCommandLine(CHILD, [url]);
      const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      try {
        let out = "";
        child.stdout.on("data", (d) => out += d);
        const [worker] = await members.waitFor(1, 30_000);
        assert.ok(await eventually(() => out.includes("\n"), 30_000));
        assert.equal(worker.id, out.trim());
        child.kill("SIGKILL");
        await exited;
        const killed = performance.now();
        assert.ok(await eventually(() => members.members().length === 0, 10 * LEASE_MS));
        const ms = performance.now() - killed;
        // Its last renewal was at most a third of a lease before the kill: gone after at most a
        // lease and a sweep (1.1 s), here with room for a busy machine's timers.
        assert.ok(ms <= 2 * LEASE_MS, `${ms.toFixed(0)} ms`);
        const leave = events.at(-1);
        assert.ok(leave?.type === "leave" && leave.why === "expired", JSON.stringify(leave));
      } finally {
        child.kill("SIGKILL");
        members.stop();
      }
    }));
});
