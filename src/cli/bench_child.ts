/**
 * The entry of a benchmark child process: measures the one job given as JSON in its first
 * argument and prints the measurement as one JSON line on stdout.
 */
import { runCommand } from "./run_command.ts";
import { scriptArgs, writeStdout } from "../runtime/process.ts";
import type { Job, Measurement } from "../bench/jobs.ts";
import { measureMicro } from "../bench/measure_micro.ts";
import { measureTraining } from "../bench/measure_train.ts";

await runCommand("bench child", async () => {
  const job = JSON.parse(scriptArgs()[0]) as Job;
  const measurement: Measurement = job.kind === "train"
    ? await measureTraining(job)
    : await measureMicro(job);
  writeStdout(JSON.stringify(measurement) + "\n");
});
