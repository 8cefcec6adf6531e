import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../src/errors.ts";
import { ClusterError } from "../src/engines/cluster/cluster_error.ts";
import { findNatsServer, startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { scriptCommandLine } from "../src/runtime/runtimes.ts";
import { eventually, natsSkip as skip, processAlive } from "./cluster/nats_fixture.ts";

const CHILD = fileURLToPath(new URL("./cluster/server_child.ts", import.meta.url));

/** The first line the server sends a client: `INFO {...}`. */
function info(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("data", (d) => {
      socket.destroy();
      resolve(JSON.parse(String(d).slice("INFO ".length).split("\r\n")[0]));
    });
    socket.once("error", reject);
  });
}

describe("findNatsServer", () => {
  it("names the Debian package when nats-server is nowhere to be found", () => {
    const empty = mkdtempSync(join(tmpdir(), "shardnet-test-"));
    try {
      assert.throws(
        () => findNatsServer(undefined, [empty]),
        (e) =>
          e instanceof ClusterError &&
          e.message ===
            "nats-server is not installed (on Debian or Ubuntu: apt-get install nats-server)",
      );
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it("rejects a given path that is not an executable as a usage error", () => {
    assert.throws(() => findNatsServer("/nonexistent/nats-server"), UsageError);
  });
});

describe("startNatsServer", { skip }, () => {
  it("serves JetStream on a free loopback port, and stop() ends it and removes its store", async () => {
    const a = await startNatsServer();
    const b = await startNatsServer();
    try {
      assert.notEqual(a.port, b.port);
      assert.equal(a.url, `nats://127.0.0.1:${a.port}`);
      const hello = await info(a.port);
      assert.equal(hello.jetstream, true);
      assert.ok(processAlive(a.pid) && existsSync(a.dir));
    } finally {
      await a.stop();
      await b.stop();
    }
    assert.ok(!processAlive(a.pid) && !processAlive(b.pid));
    assert.ok(!existsSync(a.dir) && !existsSync(b.dir));
    await a.stop(); // idempotent
  });

  it("passes the payload limit and authentication on to the server", async () => {
    await using server = await startNatsServer({
      maxPayload: 8 << 20,
      auth: { user: "u", pass: "p" },
    });
    const hello = await info(server.port);
    assert.equal(hello.max_payload, 8 << 20);
    assert.equal(hello.auth_required, true);
  });

  it("fails with one line naming the server's complaint, leaving nothing behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardnet-test-"));
    try {
      writeFileSync(join(dir, "cert.pem"), "not a certificate");
      const started = Date.now();
      await assert.rejects(
        startNatsServer({
          tls: { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") },
        }),
        (e) => {
          assert.ok(e instanceof ClusterError, String(e));
          assert.match(e.message, /^nats-server \(nats-server\) did not start: .*(key|cert)/);
          assert.ok(!e.message.includes("\n"), e.message);
          return true;
        },
      );
      assert.ok(Date.now() - started < 10_000);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  for (const how of ["SIGKILL", "SIGTERM", "exit", "throw", "return"]) {
    it(`leaves no server and no store behind when its process ends by ${how}`, async () => {
      const [command, ...args] = scriptCommandLine(CHILD, [how.startsWith("SIG") ? "wait" : how]);
      const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
      const closed = new Promise((resolve) => child.on("close", resolve));
      let out = "";
      child.stdout.on("data", (d) => out += d);
      assert.ok(await eventually(() => out.includes("\n"), 30_000), "the child started a server");
      const { pid, dir } = JSON.parse(out.split("\n")[0]) as { pid: number; dir: string };
      if (how.startsWith("SIG")) {
        assert.ok(processAlive(pid));
        child.kill(how as NodeJS.Signals);
      }
      await closed;
      assert.ok(await eventually(() => !processAlive(pid), 10_000), `server ${pid} still runs`);
      assert.ok(await eventually(() => !existsSync(dir), 10_000), `${dir} still exists`);
    });
  }
});
