import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { UsageError } from "../src/errors.ts";
import { ClusterError } from "../src/engines/cluster/cluster_error.ts";
import {
  connectCluster,
  parseClusterUrl,
  reconnectCluster,
  redactUrl,
} from "../src/engines/cluster/connection.ts";
import { startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { eventually, natsSkip as skip } from "./cluster/nats_fixture.ts";
import { startTcpProxy } from "./cluster/tcp_proxy.ts";

describe("parseClusterUrl", () => {
  it("reads one server, several, the default port, IPv6 and both kinds of credentials", () => {
    assert.deepEqual(parseClusterUrl("nats://10.0.0.1:4333"), { servers: ["10.0.0.1:4333"] });
    assert.deepEqual(parseClusterUrl("nats://a, nats://b:5000"), {
      servers: ["a:4222", "b:5000"],
    });
    assert.deepEqual(parseClusterUrl("nats://[::1]:4222"), { servers: ["[::1]:4222"] });
    assert.deepEqual(parseClusterUrl("nats://bob:p%40ss%2Cw@h:1,nats://h2:2"), {
      servers: ["h:1", "h2:2"],
      user: "bob",
      pass: "p@ss,w",
    });
    assert.deepEqual(parseClusterUrl("nats://s3cr3t@h"), { servers: ["h:4222"], token: "s3cr3t" });
  });

  it("rejects malformed URLs with one line that shows them redacted", () => {
    for (
      const url of [
        "http://h:4222",
        "h:4222",
        "nats://h:4222,",
        "nats://u:pw@h/path",
        "nats://h:99999",
        "nats://u:pw@a,nats://u:other@b",
      ]
    ) {
      assert.throws(() => parseClusterUrl(url), (e) => {
        assert.ok(e instanceof UsageError, url);
        assert.ok(!e.message.includes("pw") && !e.message.includes("other"), e.message);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
  });
});

describe("redactUrl", () => {
  it("hides the credentials of every URL in a text and keeps the rest", () => {
    assert.equal(
      redactUrl("cannot reach nats://alice:s3cret@10.0.0.1:4222,nats://tok@h2 or nats://h3:1"),
      "cannot reach nats://***@10.0.0.1:4222,nats://***@h2 or nats://h3:1",
    );
  });

  it("never lets a password through, however odd its characters", () => {
    const secret = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/\s/.test(s))
      .map((s) => `Q${s}Z`);
    const host = fc.stringMatching(/^[0-9.]{1,15}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(secret, secret, host), { minLength: 1, maxLength: 3 }), (l) => {
        const text = "url " + l.map(([u, p, h]) => `nats://${u}:${p}@${h}:4222`).join(",") + " end";
        const shown = redactUrl(text);
        for (const [u, p] of l) {
          assert.ok(!shown.includes(p) && !shown.includes(u), `${text} -> ${shown}`);
        }
      }),
    );
  });
});

describe("connectCluster", { skip }, () => {
  it("connects with a user and password, and refuses wrong or missing ones within seconds", async () => {
    await using server = await startNatsServer({ auth: { user: "alice", pass: "s3cret" } });
    const nc = await connectCluster(`nats://alice:s3cret@127.0.0.1:${server.port}`);
    await nc.close();
    for (const credentials of ["alice:wrong@", ""]) {
      const url = `nats://${credentials}127.0.0.1:${server.port}`;
      const started = Date.now();
      await assert.rejects(connectCluster(url), (e) => {
        assert.ok(e instanceof ClusterError, String(e));
        assert.match(
          e.message,
          /^cannot connect to nats:\/\/(\*\*\*@)?127\.0\.0\.1:\d+: .*credentials/,
        );
        assert.ok(!e.message.includes("wrong") && !e.message.includes("\n"), e.message);
        return true;
      });
      assert.ok(Date.now() - started < 5_000, `${Date.now() - started} ms`);
    }
  });

  it("connects with a token, and refuses a wrong one", async () => {
    await using server = await startNatsServer({ auth: { token: "t0ken" } });
    const nc = await connectCluster(`nats://t0ken@127.0.0.1:${server.port}`);
    await nc.close();
    await assert.rejects(connectCluster(`nats://nope@127.0.0.1:${server.port}`), (e) => {
      assert.ok(e instanceof ClusterError && !e.message.includes("nope"), String(e));
      return true;
    });
  });

  it("tries the next server of the list when the first is down", async () => {
    await using server = await startNatsServer();
    const nc = await connectCluster(`nats://127.0.0.1:1,nats://127.0.0.1:${server.port}`);
    assert.equal(nc.getServer(), `127.0.0.1:${server.port}`);
    await nc.close();
  });

  it("connects anew within the bound when the old connection went silent with data queued", async () => {
    await using server = await startNatsServer();
    await using proxy = await startTcpProxy(server.port);
    const nc = await connectCluster(proxy.url);
    const statuses: string[] = [];
    (async () => {
      for await (const s of nc.status()) statuses.push(s.type);
    })().catch(() => {});
    try {
      proxy.silence();
      // More than the sockets between the client and the proxy hold: the rest waits in the
      // client's socket, and the client's own reconnect() would wait for it to be written.
      const piece = new Uint8Array(512 * 1024);
      for (let i = 0; i < 64; i++) nc.publish("sink", piece);
      await reconnectCluster(nc, 500);
      assert.ok(await eventually(() => statuses.includes("reconnect"), 5_000), statuses.join());
      let timer: ReturnType<typeof setTimeout> | undefined;
      const answered = await Promise.race([
        nc.flush().then(() => true),
        new Promise<false>((resolve) => timer = setTimeout(resolve, 5_000, false)),
      ]);
      clearTimeout(timer);
      assert.ok(answered, "the new connection does not answer");
    } finally {
      await nc.close();
    }
  });

  it("gives up on a port where nothing listens, with one line", async () => {
    await assert.rejects(
      connectCluster("nats://127.0.0.1:1"),
      /^ClusterError: cannot connect to nats:\/\/127\.0\.0\.1:1: connection refused/,
    );
  });

  it("speaks TLS to a server whose certificate the given CA signed for its address", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardnet-tls-"));
    const f = (name: string) => join(dir, name);
    const openssl = (args: string[], input = "") =>
      execFileSync("openssl", args, { input, stdio: ["pipe", "ignore", "ignore"] });
    /** A key and a certificate signed by the test CA, valid for the IP address `ip`. */
    const serverCertificate = (ip: string) => {
      const [key, csr, pem] = [f(`${ip}.key`), f(`${ip}.csr`), f(`${ip}.pem`)];
      openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${ip}`, "-keyout", key]
        .concat(["-out", csr]));
      // The extension file, read from standard input, names the address the certificate is for.
      openssl(
        ["x509", "-req", "-in", csr, "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-days", "1"]
          .concat(["-CAcreateserial", "-out", pem, "-extfile", "/dev/stdin"]),
        `subjectAltName = IP:${ip}\n`,
      );
      return { certFile: pem, keyFile: key };
    };
    try {
      openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca"]
        .concat(["-keyout", f("ca.key"), "-out", f("ca.pem")]));
      {
        await using server = await startNatsServer({ tls: serverCertificate("127.0.0.1") });
        const url = `nats://127.0.0.1:${server.port}`;
        const nc = await connectCluster(url, { caFile: f("ca.pem") });
        assert.equal(nc.info?.tls_required, true);
        await nc.close();
        // Without the CA the certificate is unknown.
        await assert.rejects(connectCluster(url), (e) => {
          assert.ok(e instanceof ClusterError && !e.message.includes("\n"), String(e));
          return true;
        });
      }
      // Signed by the CA, but for another address.
      await using other = await startNatsServer({ tls: serverCertificate("10.9.9.9") });
      await assert.rejects(
        connectCluster(`nats://127.0.0.1:${other.port}`, { caFile: f("ca.pem") }),
        (e) => {
          assert.ok(e instanceof ClusterError, String(e));
          assert.match(e.message, /10\.9\.9\.9|altnames|IP/);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
