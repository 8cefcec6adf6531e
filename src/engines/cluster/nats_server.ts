/**
 * A private nats-server with JetStream for one program run (the one-command local cluster, tests,
 * the benchmark): started on a port the kernel picks, with a temporary store, and gone — process
 * and store — on every way this process can end.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { basename, delimiter, join } from "node:path";
import process from "node:process";
import { UsageError } from "../../errors.ts";
import { environmentVariable } from "../../runtime/process.ts";
import { ClusterError } from "./cluster_error.ts";

/** Debian's package of the server (`apt-get install nats-server`), named when none is found. */
const DEBIAN_PACKAGE = "nats-server";
/** Debian installs the server in /usr/sbin, which is not on an ordinary user's PATH. */
const SBIN_DIRS = ["/usr/sbin", "/usr/local/sbin"];
/** JetStream's recovery of a fresh store and the listener take milliseconds on a quiet machine. */
const DEFAULT_READY_MS = 15_000;
/** nats-server finishes a graceful shutdown in well under a second. */
const STOP_GRACE_MS = 5_000;
const POLL_MS = 10;

/**
 * The watchdog between us and the server. It starts the server in the background, prints its
 * process id, hands its standard output to the server alone (so that our end of that pipe reads
 * end-of-file exactly when the server has ended), and then waits for end-of-file on its standard
 * input, which comes when we call `stop` and equally when this process dies in any way (SIGKILL
 * included), because the kernel closes the pipe then. It then stops the server and removes the
 * store, so nothing outlives us. `"$@"` is the server's command line; $1 the directory to remove.
 */
const WATCHDOG = `dir=$1; shift
"$@" 2>"$dir/stderr" &
server=$!
echo "$server"
exec >/dev/null
read -r _ || :
kill -TERM "$server" 2>/dev/null
wait "$server"
rm -rf "$dir"`;

/** How clients must authenticate to the server; no option means no authentication. */
export type NatsServerAuth =
  | { readonly token: string }
  | { readonly user: string; readonly pass: string };

export interface NatsServerOptions {
  /** The nats-server executable; by default the first on PATH or in /usr/sbin. */
  readonly binary?: string;
  /** The address the server listens on (default 127.0.0.1). */
  readonly host?: string;
  readonly auth?: NatsServerAuth;
  /** PEM files of the server's certificate and key: clients must then speak TLS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** The largest message the server accepts, in bytes (the server's default is 1 MiB). */
  readonly maxPayload?: number;
  /** How long to wait for the server to accept clients before giving up (default 15 s). */
  readonly readyTimeoutMs?: number;
  /**
   * More of the server's configuration, in its own format, after what these options set: say an
   * `authorization` block with users and their permissions (instead of `auth`).
   */
  readonly config?: string;
}

/** A running server; `stop()` (or `await using`) ends it and removes its store. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://host:port`, without credentials. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The nats-server process's id. */
  readonly pid: number;
  /** The temporary directory holding the configuration, the JetStream store and the log. */
  readonly dir: string;
  /** Stops the server (gracefully, then by force) and removes its directory; idempotent. */
  stop(): Promise<void>;
}

/** Where nats-server is looked for: the directories of PATH, then /usr/sbin. */
export function natsServerSearchPath(): string[] {
  return [...(environmentVariable("PATH") ?? "").split(delimiter), ...SBIN_DIRS];
}

/**
 * The nats-server executable: `binary` when given (a usage error when it is not executable), else
 * the first in `dirs`; a `ClusterError` naming the Debian package when there is none.
 *
 * @example
 * ```ts
 * findNatsServer(); // "/usr/sbin/nats-server"
 * ```
 */
export function findNatsServer(
  binary?: string,
  dirs: readonly string[] = natsServerSearchPath(),
): string {
  if (binary !== undefined) {
    if (!isExecutable(binary)) throw new UsageError(`nats-server: not an executable: ${binary}`);
    return binary;
  }
  for (const dir of dirs.filter((d) => d !== "")) {
    const candidate = join(dir, "nats-server");
    if (isExecutable(candidate)) return candidate;
  }
  throw new ClusterError(
    `nats-server is not installed (on Debian or Ubuntu: apt-get install ${DEBIAN_PACKAGE})`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Servers of this process not yet stopped, killed synchronously if the process exits first. */
const running = new Set<{ killNow(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that ends through process.exit (the CLI always does, after its signal handlers) does
  // not wait for the watchdog to notice the closed pipe: kill the server and remove its store now.
  process.on("exit", () => {
    for (const server of running) server.killNow();
  });
}

/**
 * Starts nats-server with JetStream on a free port of `host` (the server binds port 0's
 * equivalent, so no other process can take the port between choosing and binding), with a fresh
 * temporary store, and resolves once it accepts clients. Rejects with one line — including the end
 * of the server's own log when it failed — after at most `readyTimeoutMs`, having stopped it.
 *
 * @example
 * ```ts
 * await using server = await startNatsServer();
 * const nc = await connectCluster(server.url);
 * ```
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = findNatsServer(options.binary);
  const host = options.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "shardnet-nats-"));
  const config: Record<string, unknown> = {
    host,
    port: -1,
    ports_file_dir: dir,
    log_file: join(dir, "server.log"),
    jetstream: { store_dir: join(dir, "jetstream") },
  };
  if (options.maxPayload !== undefined) config.max_payload = options.maxPayload;
  const auth = options.auth;
  if (auth !== undefined) {
    config.authorization = "token" in auth
      ? { token: auth.token }
      : { user: auth.user, password: auth.pass };
  }
  if (options.tls) {
    config.tls = { cert_file: options.tls.certFile, key_file: options.tls.keyFile };
  }
  // One `key: JSON` line per setting (the server's format accepts JSON values), so that `config`
  // can follow in that format. The file may hold credentials, hence 0600.
  const lines = Object.entries(config).map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
  if (options.config !== undefined) lines.push(options.config);
  const configFile = join(dir, "nats.conf");
  writeFileSync(configFile, lines.join("\n") + "\n", { mode: 0o600 });

  installExitHook();
  // Its own session: a terminal's Ctrl-C reaches only us, and we decide when the server stops.
  const child = spawn("sh", ["-c", WATCHDOG, "sh", dir, binary, "-c", configFile], {
    detached: true,
    stdio: ["pipe", "pipe", "ignore"],
  });
  let serverPid = 0;
  let serverEnded = false;
  let watchdogExited = false;
  child.stdout?.on("end", () => serverEnded = true);
  child.stdout?.on("close", () => serverEnded = true);
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      watchdogExited = true;
      resolve();
    };
    child.on("exit", done);
    child.on("error", done);
  });
  // Signals go only to processes known to be alive: once one has ended, its id may be reused.
  const killNow = () => {
    if (serverPid > 0 && !serverEnded) {
      try {
        process.kill(serverPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (!watchdogExited) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    running.delete(handle);
  };
  const handle = { killNow };
  running.add(handle);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      child.stdin?.end();
      await within(exited, STOP_GRACE_MS);
      killNow();
      await within(exited, STOP_GRACE_MS);
    })();
    return stopping;
  };

  const readyMs = options.readyTimeoutMs ?? DEFAULT_READY_MS;
  const deadline = Date.now() + readyMs;
  try {
    serverPid = await readPid(child, deadline);
    // What follows on that pipe is the server's, which writes only to its log: read on to see
    // the end of it, which is the server's end.
    child.stdout?.resume();
    const port = await waitForPort(dir, serverPid, deadline, () => serverEnded);
    await waitForInfo(host, port, deadline);
    child.unref();
    unrefStream(child.stdin);
    unrefStream(child.stdout);
    const url = `nats://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return {
      url,
      host,
      port,
      pid: serverPid,
      dir,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    const log = serverLog(dir);
    await stop();
    const why = e instanceof Error ? e.message : String(e);
    throw new ClusterError(
      `nats-server (${basename(binary)}) did not start: ${why}${log ? `: ${log}` : ""}`,
    );
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise`, or `ms` at most; leaves no timer behind either way. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

/** The last lines of the server's error output and log, on one line, for a failure message. */
function serverLog(dir: string): string {
  const lines: string[] = [];
  for (const name of ["stderr", "server.log"]) {
    try {
      lines.push(...readFileSync(join(dir, name), "utf8").split("\n"));
    } catch {
      // not written
    }
  }
  return lines
    .map((l) => l.replace(/^\[\d+\] \S+ \S+ /, "").trim())
    .filter((l) => l !== "" && !/^\[INF\]/.test(l))
    .slice(-3)
    .join(" | ");
}

/** The server's process id, the watchdog's first line of output. */
function readPid(child: ChildProcess, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () => finish(new Error("no process id from the watchdog")),
      Math.max(0, deadline - Date.now()),
    );
    const finish = (result: number | Error) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      if (typeof result === "number") resolve(result);
      else reject(result);
    };
    const onData = (d: Uint8Array | string) => {
      text += String(d);
      const newline = text.indexOf("\n");
      if (newline >= 0) finish(Number(text.slice(0, newline)));
    };
    const onExit = () => finish(new Error("its watchdog shell exited"));
    const onError = (e: Error) => finish(e);
    child.stdout?.on("data", onData);
    child.on("exit", onExit);
    child.on("error", onError);
  });
}

/** The client port from the ports file the server writes once it listens. */
async function waitForPort(
  dir: string,
  pid: number,
  deadline: number,
  exited: () => boolean,
): Promise<number> {
  const suffix = `_${pid}.ports`;
  while (true) {
    const file = readdirSync(dir).find((f) => f.endsWith(suffix));
    if (file !== undefined) {
      try {
        const ports = JSON.parse(readFileSync(join(dir, file), "utf8")) as { nats?: string[] };
        const port = Number(/:(\d+)$/.exec(ports.nats?.[0] ?? "")?.[1]);
        if (Number.isInteger(port) && port > 0) return port;
      } catch {
        // written but not complete yet
      }
    }
    if (exited()) throw new Error("it exited");
    if (Date.now() > deadline) throw new Error("not listening in time");
    await delay(POLL_MS);
  }
}

/** Resolves once a TCP connection to the port receives the server's INFO line. */
async function waitForInfo(host: string, port: number, deadline: number): Promise<void> {
  while (true) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port });
      const timer = setTimeout(
        () => done(false),
        Math.max(1, Math.min(1000, deadline - Date.now())),
      );
      const done = (result: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      socket.once("data", (d) => done(String(d).startsWith("INFO ")));
      socket.once("error", () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error("no INFO from its port in time");
    await delay(POLL_MS);
  }
}
