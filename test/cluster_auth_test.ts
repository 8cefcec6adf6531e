/**
 * The cluster behind authentication and TLS, as people run it: nats-server with a token, with a
 * user and password, with TLS (certificates made here with openssl), and with the per-role users
 * of docs/cluster_security.md; worker processes and the coordinator with right, wrong and missing
 * credentials; and no credential in anything the runs print or write.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { tmpdir } from "node:os";
import { type NatsServer, startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { connectCluster } from "../src/engines/cluster/connection.ts";
import { eventually, natsSkip } from "./cluster/nats_fixture.ts";
import { type CliResult, runCli, type RunningCli, startCli } from "./run_cli.ts";

const SLOW = { timeout: 240_000, skip: natsSkip };
const TRAIN = [
  "--data",
  "data/breast_cancer.csv",
  "--hidden",
  "8",
  "--dtype",
  "f64",
  "--epochs",
  "15",
];
/** A refused client stops within seconds (the connect timeout is 5 s); this is the generous bound. */
const REFUSED_WITHIN_MS = 20_000;

function opensslSkip(): string | false {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return false;
  } catch {
    return "openssl is not installed";
  }
}
const TLS = { ...SLOW, skip: natsSkip || opensslSkip() };

let dir = "";
let reference = "";
const running: RunningCli[] = [];
const servers: NatsServer[] = [];

/** A fresh secret, so that finding it in an output can only mean it leaked. */
function secret(label: string): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(8)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${label}${hex}`;
}

before(async () => {
  if (natsSkip) return;
  dir = mkdtempSync(join(tmpdir(), "shardnet-auth-test-"));
  const out = join(dir, "reference.json");
  const r = await runCli("train", [...TRAIN, "--workers", "0", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  reference = readFileSync(out, "utf8");
});

after(async () => {
  for (const r of running) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
  }
  for (const s of servers) await s.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function server(options: Parameters<typeof startNatsServer>[0]): Promise<NatsServer> {
  const s = await startNatsServer({ maxPayload: 64 * 2 ** 20, ...options });
  servers.push(s);
  return s;
}

/** `nats://<credentials>@host:port` of `server`. */
function withCredentials(s: NatsServer, credentials: string): string {
  return s.url.replace("nats://", `nats://${credentials}@`);
}

function caArgs(ca?: string): string[] {
  return ca === undefined ? [] : ["--cluster-ca", ca];
}

/** Starts a worker and waits until it has joined. */
async function startWorker(url: string, name: string, ca?: string): Promise<RunningCli> {
  const w = startCli("worker", ["--cluster", url, "--threads", "1", "--name", name, ...caArgs(ca)]);
  running.push(w);
  const joined = await eventually(() => w.stderr().includes("joined the cluster"), 60_000);
  assert.ok(joined, `worker ${name} did not join: ${w.stderr()}`);
  return w;
}

async function stopWorker(w: RunningCli): Promise<CliResult> {
  process.kill(w.child.pid!, "SIGTERM");
  const r = await w.done;
  assert.equal(r.code, 143, `worker exit: ${r.code} ${r.signal}\n${r.stderr}`);
  return r;
}

/**
 * Trains on `coordinatorUrl` with one worker per URL of `workerUrls`, with a checkpoint: asserts
 * the --out equals --workers 0's and that no string of `secrets` is in any output or file.
 */
async function trainsIdentically(
  name: string,
  coordinatorUrl: string,
  workerUrls: readonly string[],
  secrets: readonly string[],
  options: { ca?: string; logFormat?: "text" | "json" } = {},
): Promise<void> {
  const ca = options.ca;
  const workers = [];
  for (const [i, url] of workerUrls.entries()) {
    workers.push(await startWorker(url, `${name}-${i}`, ca));
  }
  const out = join(dir, `${name}.json`);
  const checkpoint = join(dir, `${name}.ckpt`);
  const r = await runCli("train", [
    ...TRAIN,
    "--cluster",
    coordinatorUrl,
    "--min-workers",
    String(workerUrls.length),
    ...caArgs(ca),
    "--out",
    out,
    "--checkpoint",
    checkpoint,
    "--log-format",
    options.logFormat ?? "text",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const finished = [];
  for (const w of workers) finished.push(await stopWorker(w));
  assert.equal(readFileSync(out, "utf8"), reference);
  assert.ok(existsSync(checkpoint));
  const outputs: Record<string, string> = {
    "coordinator stdout": r.stdout,
    "coordinator stderr": r.stderr,
    "--out": readFileSync(out, "utf8"),
    "--checkpoint": readFileSync(checkpoint, "latin1"),
  };
  for (const [i, w] of finished.entries()) {
    outputs[`worker ${i} stdout`] = w.stdout;
    outputs[`worker ${i} stderr`] = w.stderr;
  }
  assertNoSecret(outputs, secrets);
}

function assertNoSecret(outputs: Record<string, string>, secrets: readonly string[]): void {
  for (const [what, text] of Object.entries(outputs)) {
    for (const s of secrets) assert.ok(!text.includes(s), `${what} shows a credential: ${text}`);
  }
}

/**
 * A worker and a coordinator given `url` are both refused: each exits 1 within seconds with
 * one line on stderr that names the reason and not the credentials.
 */
async function bothRefused(url: string, reason: RegExp, secrets: readonly string[], ca?: string) {
  const [worker, coordinator] = await Promise.all([
    runCli("worker", ["--cluster", url, "--threads", "1", ...caArgs(ca)], {}, 60_000),
    runCli(
      "train",
      [...TRAIN, "--cluster", url, "--cluster-wait", "30", ...caArgs(ca)],
      {},
      60_000,
    ),
  ]);
  for (const [who, r] of [["worker", worker], ["coordinator", coordinator]] as const) {
    assert.equal(r.code, 1, `${who}: exit ${r.code} ${r.signal}\n${r.stderr}`);
    assert.ok(r.ms < REFUSED_WITHIN_MS, `${who} took ${r.ms} ms`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${who} printed more than one line:\n${r.stderr}`);
    assert.match(lines[0], reason, who);
    assert.match(lines[0], /\*\*\*@|nats:\/\/127\.0\.0\.1/, who);
    assertNoSecret({ [`${who} stderr`]: r.stderr, [`${who} stdout`]: r.stdout }, secrets);
  }
}

describe("cluster authentication", () => {
  it("trains with the right token; a wrong or missing one stops each program", SLOW, async () => {
    const token = secret("tok");
    const wrong = secret("bad");
    const s = await server({ auth: { token } });
    const url = withCredentials(s, token);
    await trainsIdentically("token", url, [url], [token]);
    await bothRefused(withCredentials(s, wrong), /authorization refused/, [token, wrong]);
    await bothRefused(s.url, /requires credentials/, [token]);
  });

  it("trains with the right user and password; wrong or none stop each program", SLOW, async () => {
    const pass = secret("pw");
    const wrong = secret("bad");
    const s = await server({ auth: { user: "alice", pass } });
    const url = withCredentials(s, `alice:${pass}`);
    await trainsIdentically("password", url, [url], [pass], { logFormat: "json" });
    await bothRefused(withCredentials(s, `alice:${wrong}`), /authorization refused/, [pass, wrong]);
    await bothRefused(s.url, /requires credentials/, [pass]);
  });
});

/** A certificate authority and a server certificate for 127.0.0.1 (an IP SAN), made by openssl. */
function makeCertificates(
  into: string,
): { ca: string; otherCa: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const path = (name: string) => join(into, name);
  for (const ca of ["ca", "other-ca"]) {
    openssl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      path(`${ca}-key.pem`),
      "-out",
      path(`${ca}.pem`),
      "-days",
      "2",
      "-subj",
      `/CN=shardnet test ${ca}`,
    );
  }
  openssl(
    "req",
    ...ec,
    "-keyout",
    path("server-key.pem"),
    "-out",
    path("server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(path("san.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    "x509",
    "-req",
    "-in",
    path("server.csr"),
    "-CA",
    path("ca.pem"),
    "-CAkey",
    path("ca-key.pem"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    path("san.cnf"),
    "-out",
    path("server-cert.pem"),
  );
  return {
    ca: path("ca.pem"),
    otherCa: path("other-ca.pem"),
    cert: path("server-cert.pem"),
    key: path("server-key.pem"),
  };
}

describe("cluster TLS", () => {
  it(
    "trains over TLS with --cluster-ca; another CA, none, or another host stops each program",
    TLS,
    async () => {
      const certs = makeCertificates(dir);
      const token = secret("tok");
      const s = await server({
        auth: { token },
        tls: { certFile: certs.cert, keyFile: certs.key },
      });
      const url = withCredentials(s, token);
      await trainsIdentically("tls", url, [url], [token], { ca: certs.ca });
      await bothRefused(
        url,
        /TLS: .*not signed by the given certificate authority/,
        [token],
        certs.otherCa,
      );
      await bothRefused(url, /TLS: .*give the certificate authority/, [token]);
      // A certificate the CA signed, but for another host: 127.0.0.2 is loopback too.
      const elsewhere = await server({
        host: "127.0.0.2",
        auth: { token },
        tls: { certFile: certs.cert, keyFile: certs.key },
      });
      await bothRefused(
        withCredentials(elsewhere, token),
        /TLS: .*does not match/,
        [token],
        certs.ca,
      );
    },
  );
});

/**
 * The per-role users of docs/cluster_security.md: its sample configuration from `WORKER = {` to
 * the end of its `authorization` block, each sample password replaced by a fresh secret.
 */
function rolesConfig(): { config: string; passwords: Record<string, string> } {
  const doc = readFileSync(new URL("../docs/cluster_security.md", import.meta.url), "utf8");
  const block = /```conf\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, "docs/cluster_security.md has no conf block");
  let config = block.slice(block.indexOf("WORKER = {"));
  const passwords: Record<string, string> = {};
  for (const user of ["coordinator", "worker-a", "worker-b"]) {
    passwords[user] = secret("pw");
    const sample = `"${user}-password"`;
    assert.ok(config.includes(sample), `no ${sample} in the sample`);
    config = config.replace(sample, `"${passwords[user]}"`);
  }
  return { config, passwords };
}

describe("cluster permissions", () => {
  it("trains with the sample's coordinator and worker users", SLOW, async () => {
    const { config, passwords } = rolesConfig();
    const s = await server({ config });
    const url = (user: string) => withCredentials(s, `${user}:${passwords[user]}`);
    // Twice: the second run finds its data set published and reads it back instead.
    for (const name of ["roles", "roles-again"]) {
      await trainsIdentically(
        name,
        url("coordinator"),
        [url("worker-a"), url("worker-b")],
        Object.values(passwords),
        { logFormat: "json" },
      );
    }
    // Nothing either role does was refused, not even where a refusal would go unnoticed.
    const log = readFileSync(join(s.dir, "server.log"), "utf8");
    assert.doesNotMatch(log, /violation/i);
  });

  it(
    "refuses a worker user's join to another worker, and carries the coordinator's",
    SLOW,
    async () => {
      const { config, passwords } = rolesConfig();
      const s = await server({ config });
      const url = (user: string) => withCredentials(s, `${user}:${passwords[user]}`);
      const victim = await connectCluster(url("worker-b"));
      const intruder = await connectCluster(url("worker-a"));
      const coordinator = await connectCluster(url("coordinator"));
      try {
        const target = "shardnet.v1.worker.victim.join";
        const received: string[] = [];
        const sub = victim.subscribe(target, {
          callback: (_, msg) => {
            received.push(new TextDecoder().decode(msg.data));
          },
        });
        await victim.flush();
        const refusals: string[] = [];
        (async () => {
          for await (const status of intruder.status()) {
            if (status.type === "error") refusals.push(String(status.error));
          }
        })();
        intruder.publish(target, "from a worker");
        await intruder.flush();
        coordinator.publish(target, "from the coordinator");
        await coordinator.flush();
        assert.ok(await eventually(() => received.length > 0 && refusals.length > 0, 10_000));
        // Give a stray message from the intruder time to arrive behind the coordinator's.
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.deepEqual(received, ["from the coordinator"]);
        assert.match(refusals.join("\n"), /permissions violation.*publish.*shardnet\.v1\.worker/i);
        // The server's log records a refusal, so the previous test's clean log means something.
        assert.match(readFileSync(join(s.dir, "server.log"), "utf8"), /violation/i);
        sub.unsubscribe();
      } finally {
        await Promise.all([victim.close(), intruder.close(), coordinator.close()]);
      }
    },
  );
});
