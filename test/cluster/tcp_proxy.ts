/**
 * A TCP proxy on loopback between a client and nats-server, for the tests of a link that goes
 * silent without network namespaces: `silence()` makes every connection made so far go quiet the
 * way a cut link does (nothing forwarded either way, the client's side no longer read, so that
 * what the client writes backs up in its socket), while connections made afterwards are forwarded
 * as usual (the link is back, the old connections lost). With `dropSubscription`, it also keeps
 * from the server each subscription the client makes that the function picks (the client then
 * misses every message on that subject, as it would any sent while its link was down); with
 * `dropPublish`, each message the client publishes that the function picks (lost on its way).
 *
 * @example
 * ```ts
 * await using proxy = await startTcpProxy(4222);
 * const nc = await connectCluster(proxy.url);
 * proxy.silence();
 * ```
 */
import { Buffer } from "node:buffer";
import { createConnection, createServer, type Socket } from "node:net";

export interface TcpProxy extends AsyncDisposable {
  /** `nats://127.0.0.1:port` of the proxy. */
  readonly url: string;
  /** Connections made so far go silent for good; new ones are forwarded. */
  silence(): void;
  /** Closes the proxy and every connection through it. */
  stop(): Promise<void>;
}

/** What a proxy changes in what it forwards. */
export interface ProxyOptions {
  /** Called with the subject of each `SUB` a client sends; true keeps it from the server. */
  readonly dropSubscription?: (subject: string) => boolean;
  /** Called with the subject and payload of each `PUB` a client sends; true keeps it from the server. */
  readonly dropPublish?: (subject: string, payload: Uint8Array) => boolean;
}

/**
 * The client's side of the NATS protocol, forwarded op by op without the `SUB`s and `PUB`s that
 * `options` picks: a function of each chunk read to the bytes to write on (an op cut across chunks
 * waits for its end). Only `PUB` and `HPUB` carry a payload, whose size ends their line.
 */
function filtered(options: ProxyOptions): (chunk: Uint8Array) => Buffer {
  const dropSub = options.dropSubscription ?? (() => false);
  const dropPub = options.dropPublish ?? (() => false);
  let pending = Buffer.alloc(0);
  return (chunk) => {
    const buf = Buffer.concat([pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) break;
      const [op, ...args] = buf.subarray(at, eol).toString("latin1").split(" ").filter((x) => x);
      let end = eol + 2;
      const name = (op ?? "").toUpperCase();
      if (name === "PUB" || name === "HPUB") end += Number(args.at(-1)) + 2;
      if (end > buf.length) break;
      const dropped = (name === "SUB" && dropSub(args[0])) ||
        (name === "PUB" && dropPub(args[0], buf.subarray(eol + 2, end - 2)));
      if (!dropped) out.push(buf.subarray(at, end));
      at = end;
    }
    pending = Buffer.from(buf.subarray(at));
    return Buffer.concat(out);
  };
}

/** Starts a proxy on a free loopback port that forwards to `127.0.0.1:targetPort`. */
export function startTcpProxy(targetPort: number, options: ProxyOptions = {}): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket; silent: boolean }>();
  const proxy = createServer((client) => {
    const server = createConnection(targetPort, "127.0.0.1");
    const pair = { client, server, silent: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    const filter = options.dropSubscription === undefined && options.dropPublish === undefined
      ? (b: Uint8Array) => b
      : filtered(options);
    client.on("data", (b: Uint8Array) => pair.silent || server.write(filter(b)));
    server.on("data", (b: Uint8Array) => pair.silent || client.write(b));
    for (const s of [client, server]) {
      s.on("error", end);
      s.on("close", end);
    }
  });
  return new Promise((resolve, reject) => {
    proxy.once("error", reject);
    proxy.listen(0, "127.0.0.1", () => {
      const port = (proxy.address() as { port: number }).port;
      const stop = () =>
        new Promise<void>((done) => {
          for (const { client, server } of pairs) {
            client.destroy();
            server.destroy();
          }
          pairs.clear();
          proxy.close(() => done());
        });
      resolve({
        url: `nats://127.0.0.1:${port}`,
        silence: () => {
          for (const pair of pairs) {
            pair.silent = true;
            pair.client.pause();
            pair.server.pause();
          }
        },
        stop,
        [Symbol.asyncDispose]: stop,
      });
    });
  });
}
