/**
 * A TCP proxy on loopback between a client and nats-server, for the tests of a link that goes
 * silent without network namespaces: `silence()` makes every connection made so far go quiet the
 * way a cut link does (nothing forwarded either way, the client's side no longer read, so that
 * what the client writes backs up in its socket), while connections made afterwards are forwarded
 * as usual (the link is back, the old connections lost).
 *
 * @example
 * ```ts
 * await using proxy = await startTcpProxy(4222);
 * const nc = await connectCluster(proxy.url);
 * proxy.silence();
 * ```
 */
import { createConnection, createServer, type Socket } from "node:net";

export interface TcpProxy extends AsyncDisposable {
  /** `nats://127.0.0.1:port` of the proxy. */
  readonly url: string;
  /** Connections made so far go silent for good; new ones are forwarded. */
  silence(): void;
  /** Closes the proxy and every connection through it. */
  stop(): Promise<void>;
}

/** Starts a proxy on a free loopback port that forwards to `127.0.0.1:targetPort`. */
export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
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
    client.on("data", (b: Uint8Array) => pair.silent || server.write(b));
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
