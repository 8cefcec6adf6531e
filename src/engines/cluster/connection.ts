/**
 * Connecting to the cluster's NATS server from a URL, with credentials kept out of everything
 * printed: every URL shown to a person goes through `redactUrl`.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { UsageError } from "../../errors.ts";
import { ClusterError } from "./cluster_error.ts";

const DEFAULT_PORT = 4222;
/** Connecting on loopback takes milliseconds; a remote host behind a slow link, well under this. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Between attempts to reconnect to a server that went away (the client's default is 2 s). */
const RECONNECT_WAIT_MS = 500;

/** A parsed cluster URL: the servers to try, and the credentials they all share. */
export interface ClusterAddress {
  /** `host:port` of each server, in the order given (IPv6 hosts in brackets). */
  readonly servers: readonly string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/** A URL scheme and what follows it up to the next URL, a space or the end. */
const URL_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)(\S*?)(?=,?[a-z][a-z0-9+.-]*:\/\/|\s|$)/gi;

/**
 * `text` with the credentials of every URL in it replaced by `***`: what comes before the last
 * `@` of each URL, whether or not the URL is well formed (so a password with a stray `/`, `@` or
 * `,` is hidden too). Apply it to anything printed that may contain a cluster URL.
 *
 * @example
 * ```ts
 * redactUrl("nats://alice:s3cret@10.0.0.1:4222,nats://tok@10.0.0.2"); // "nats://***@10.0.0.1:4222,nats://***@10.0.0.2"
 * ```
 */
export function redactUrl(text: string): string {
  return text.replace(URL_IN_TEXT, (_, scheme: string, rest: string) => {
    const at = rest.lastIndexOf("@");
    return at < 0 ? scheme + rest : `${scheme}***${rest.slice(at)}`;
  });
}

/**
 * Parses `nats://host:port`, several of them comma-separated (the servers of one NATS cluster),
 * each optionally with `user:pass@` or `token@` (percent-encoded where needed); the port defaults
 * to 4222. A malformed URL is a `UsageError` that shows it redacted.
 *
 * @example
 * ```ts
 * parseClusterUrl("nats://bob:pw@a:4222,nats://b"); // { servers: ["a:4222", "b:4222"], user: "bob", pass: "pw" }
 * ```
 */
export function parseClusterUrl(url: string): ClusterAddress {
  const bad = (why: string): never => {
    throw new UsageError(`cluster URL ${redactUrl(url)}: ${why}`);
  };
  const servers: string[] = [];
  let credentials: string | undefined;
  let auth: { user?: string; pass?: string; token?: string } = {};
  for (const entry of url.split(",").map((e) => e.trim())) {
    if (entry === "") bad("an empty server in the list");
    if (!entry.startsWith("nats://")) bad("each server must be nats://host:port");
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      return bad("not a URL");
    }
    if (parsed.hostname === "") bad("no host");
    if (parsed.pathname !== "" && parsed.pathname !== "/") bad("a server URL has no path");
    if (parsed.search !== "" || parsed.hash !== "") bad("a server URL has no query or fragment");
    servers.push(`${parsed.hostname}:${parsed.port === "" ? DEFAULT_PORT : parsed.port}`);
    if (parsed.username === "" && parsed.password === "") continue;
    const these = `${parsed.username}:${parsed.password}`;
    if (credentials !== undefined && credentials !== these) {
      bad("the servers of one cluster take the same credentials");
    }
    credentials = these;
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return bad("malformed percent-encoding in the credentials");
      }
    };
    auth = parsed.password === ""
      ? { token: decode(parsed.username) }
      : { user: decode(parsed.username), pass: decode(parsed.password) };
  }
  return { servers, ...auth };
}

export interface ConnectClusterOptions {
  /** The name this client shows in the server's monitoring (a worker's or coordinator's name). */
  readonly name?: string;
  /** A PEM file of the certificate authority that signed the servers' TLS certificates. */
  readonly caFile?: string;
  /** How long connecting may take before giving up with one line (default 5 s). */
  readonly timeoutMs?: number;
}

/**
 * Connects to the cluster at `url` (see `parseClusterUrl`). Refused credentials, an unreachable
 * server, a TLS failure or no answer within `timeoutMs` reject with a one-line `ClusterError`
 * naming the redacted URL — never a hang. Once connected, the client reconnects for as long as it
 * takes after the server goes away (the engine bounds its own waits), so a restarted server picks
 * up where it was.
 *
 * @example
 * ```ts
 * const nc = await connectCluster("nats://127.0.0.1:4222", { name: "worker-1" });
 * ```
 */
export async function connectCluster(
  url: string,
  options: ConnectClusterOptions = {},
): Promise<NatsConnection> {
  const address = parseClusterUrl(url);
  const shown = redactUrl(url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const attempt = connect({
    servers: [...address.servers],
    ...(address.user !== undefined ? { user: address.user, pass: address.pass } : {}),
    ...(address.token !== undefined ? { token: address.token } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.caFile !== undefined ? { tls: tlsOptions(options.caFile, address) } : {}),
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    // Only the servers named in the URL: not others the server announces, which may be addresses
    // meaningless from here.
    ignoreClusterUpdates: true,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The client bounds each server's handshake; this bounds the whole, whatever the server count.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no connection within ${(timeoutMs / 1000).toFixed(1)} s`)),
      timeoutMs + 1_000,
    );
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (e) {
    // A connection that arrives after we gave up is closed, not leaked.
    attempt.then((nc) => nc.close(), () => {});
    const hasCredentials = address.user !== undefined || address.token !== undefined;
    const why = describeConnectError(e, hasCredentials, options.caFile !== undefined);
    throw new ClusterError(`cannot connect to ${shown}: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The part of @nats-io/transport-node 3.4's connection that `reconnectCluster` reaches into. */
interface OldSocket {
  readonly isClosed: boolean;
  close(error: Error): Promise<void>;
}

/**
 * Drops `nc`'s connection and dials anew, as `nc.reconnect()` does, but without waiting on the old
 * socket for longer than `boundMs`. The client's `reconnect()` closes the old socket only once a
 * last write to it has completed; on a link gone dead with data queued (a send buffer full of what
 * the peer never acknowledged) that is when the link is back and the data gone through, or when
 * TCP gives up after many minutes, and until then it does not dial. After `boundMs` the old socket
 * is closed as if it had failed (the client's own path for a socket error), which dials at once.
 *
 * @example
 * ```ts
 * await reconnectCluster(nc, 2_000);
 * ```
 */
export async function reconnectCluster(nc: NatsConnection, boundMs: number): Promise<void> {
  const protocol = (nc as unknown as { protocol?: { connected?: boolean; transport?: OldSocket } })
    .protocol;
  const old = protocol?.transport;
  // Not connected: the client is dialing already, each attempt bounded by its timeout.
  const connected = protocol?.connected === true;
  await nc.reconnect();
  if (!connected || old === undefined || typeof old.close !== "function") return;
  await new Promise((resolve) => setTimeout(resolve, boundMs));
  if (!old.isClosed && protocol?.transport === old) {
    await old.close(new Error("the old connection did not close in time"));
  }
}

/**
 * TLS that trusts `caFile` and checks each server's certificate against the hosts of the URL. The
 * client names no host for an IP address (no SNI), and the runtimes' TLS then checks the
 * certificate against "localhost"; so the check is ours: the certificate must be valid for one of
 * the URL's hosts (for a URL of one server, exactly that server).
 */
function tlsOptions(caFile: string, address: ClusterAddress) {
  const hosts = address.servers.map((s) => s.slice(0, s.lastIndexOf(":")).replace(/^\[|\]$/g, ""));
  return {
    caFile,
    checkServerIdentity: (_: string, cert: PeerCertificate): Error | undefined => {
      const errors = hosts.map((host) => checkServerIdentity(host, cert));
      return errors.some((e) => e === undefined) ? undefined : errors[0];
    },
  };
}

/** The client's error as a short phrase, its first line, credentials redacted. */
function describeConnectError(e: unknown, hasCredentials: boolean, hasCa: boolean): string {
  const error = e as { name?: string; message?: string; cause?: unknown };
  const name = error?.name ?? "";
  const message = String(error?.message ?? e).split("\n")[0];
  const cause = (error?.cause as { message?: string } | undefined)?.message;
  let text: string;
  if (name === "AuthorizationError" || /authorization/i.test(message)) {
    text = hasCredentials
      ? `authorization refused (${message}); check the credentials in the URL`
      : `the server requires credentials (${message}); give user:pass@ or token@ in the URL`;
  } else if (/verify|self[- ]signed|issuer certificate/i.test(message)) {
    text = hasCa
      ? `TLS: ${message}; the server's certificate is not signed by the given certificate authority`
      : `TLS: ${message}; give the certificate authority that signed the server's certificate`;
  } else if (/certificate|altnames/i.test(message)) {
    text = `TLS: ${message}`;
  } else if (/refused|ECONNREFUSED/i.test(message)) {
    text = "connection refused (is nats-server running there?)";
  } else if (name === "TimeoutError" || /timeout/i.test(message)) {
    text = "no answer in time";
  } else {
    text = cause ? `${message}: ${cause.split("\n")[0]}` : message;
  }
  return redactUrl(text);
}
