/**
 * What the cluster tests share: whether nats-server is here (else every such test skips, with one
 * line saying why), and a way to tell whether a process is still alive.
 */
import { readFileSync } from "node:fs";
import { findNatsServer } from "../../src/engines/cluster/nats_server.ts";

function skipReason(): string | false {
  try {
    findNatsServer();
    return false;
  } catch (e) {
    return (e as Error).message;
  }
}

/** False when nats-server is installed, else why the cluster tests skip. */
export const natsSkip: string | false = skipReason();
if (natsSkip) console.warn(`cluster tests: skipping every test that needs a server: ${natsSkip}`);

/** Whether process `pid` exists and is not a zombie (a zombie has ended; only its entry remains). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Polls `condition` every 20 ms until it holds (true) or `ms` pass (false). */
export async function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
