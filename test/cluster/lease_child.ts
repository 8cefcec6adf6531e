/**
 * A worker process reduced to its lease, for the membership tests: connects to the URL in its
 * first argument, takes a lease, prints its id and waits to be killed.
 */
import process from "node:process";
import { connectCluster } from "../../src/engines/cluster/connection.ts";
import { WorkerLease } from "../../src/engines/cluster/membership.ts";

const nc = await connectCluster(process.argv[2]);
const lease = await WorkerLease.start(nc, {
  name: "child",
  runtime: "test",
  threads: 1,
  backends: ["js"],
});
process.stdout.write(`${lease.id}\n`);
setInterval(() => {}, 1000);
