/**
 * A process that starts a nats-server and then ends in the way its argument says, for the test that
 * no server outlives the process that started it: prints `{pid, dir}` and then
 * - "wait": waits to be killed (SIGKILL or SIGTERM from the test),
 * - "exit": calls process.exit(0) without stopping the server,
 * - "throw": throws an uncaught error,
 * - "return": lets the event loop empty without stopping the server.
 */
import process from "node:process";
import { startNatsServer } from "../../src/engines/cluster/nats_server.ts";

const how = process.argv[2];
const server = await startNatsServer();
process.stdout.write(`${JSON.stringify({ pid: server.pid, dir: server.dir })}\n`);
if (how === "wait") setInterval(() => {}, 1000);
else if (how === "exit") process.exit(0);
else if (how === "throw") throw new Error("deliberate");
