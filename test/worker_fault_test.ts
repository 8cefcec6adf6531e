import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generate } from "../src/data/generators.ts";
import { WorkerError } from "../src/errors.ts";
import { train } from "../src/train/train.ts";
import { runCli } from "./run_cli.ts";

describe("a failing worker", () => {
  it("stops the CLI run with one line naming the worker and the cause, within seconds", async () => {
    const r = await runCli(
      "train",
      [
        // Eight chunks of 512 rows: every worker claims chunks.
        ...["--data", "xor", "--samples", "4096"],
        "--epochs",
        "1000",
        "--workers",
        "4",
        "--log-format",
        "json",
      ],
      { SHARDNET_FAULT: "2:5" },
      30_000,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.signal, null);
    // The worker throws at the first step from 5 on in which it claims a chunk, and that step
    // cannot finish without the chunk.
    const failed = /^train: worker 2: injected fault at step (\d+)\n$/.exec(r.stderr);
    assert.ok(failed, r.stderr);
    const step = Number(failed[1]);
    assert.ok(step >= 5, `failed at step ${step}`);
    const epochs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(epochs.length, step - 1, `epochs before step ${step} finished, not that one`);
    // Under 1 s on a quiet machine, 4 s on a loaded one; a lost failure would wait for the 60 s
    // step watchdog.
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  });

  it("stops the CLI run, naming the worker, when a worker's thread ends without an error", async () => {
    const r = await runCli(
      "train",
      [
        ...["--data", "xor", "--samples", "4096", "--epochs", "1000", "--workers", "3"],
        ...["--log-format", "json"],
      ],
      // The thread ends while it holds a chunk. Bun reports the end; on Deno nothing does, and
      // the step watchdog (shortened here from 60 s) finds the step stalled on that chunk.
      { SHARDNET_FAULT: "1:4:exit", SHARDNET_STALL_MS: "1500" },
      30_000,
    );
    assert.equal(r.code, 1, r.stderr);
    const cause = r.stderr.match(
      /^train: worker 1: (its thread exited without an error|chunk \d+: no progress in step \d+ for (\d+\.\d) s; a worker thread has exited or hung)\n$/,
    );
    assert.ok(cause, r.stderr);
    // The watchdog looks every half second, later on a busy machine: it fires after 1.5 s (not
    // the default 60 s), but how much after depends on the machine.
    if (cause[2] !== undefined) {
      assert.ok(Number(cause[2]) >= 1.5 && Number(cause[2]) < 60, cause[2]);
    }
    assert.ok(r.stdout.trim().split("\n").length >= 3, "epochs 1-3 finished");
    // About 2.5 s on a quiet machine, the 1.5 s stall included; the default watchdog takes 60 s.
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  });

  it("stops the run when a worker fails while being configured", async () => {
    const r = await runCli(
      "train",
      ["--data", "xor", "--samples", "4096", "--epochs", "5", "--workers", "3"],
      { SHARDNET_FAULT: "1:0" },
      30_000,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, "train: worker 1: injected fault while configuring\n");
    assert.equal(r.stdout, "");
  });

  it("rejects train() with a WorkerError and leaves no worker running", async () => {
    const previous = process.env.SHARDNET_FAULT;
    process.env.SHARDNET_FAULT = "0:3";
    try {
      await assert.rejects(
        train(generate("xor", 8192, 4, 1), { epochs: 50, workers: 3, backend: "js" }),
        (e: unknown) =>
          e instanceof WorkerError &&
          /^worker 0: injected fault at step ([3-9]|\d\d+)$/.test(e.message),
      );
    } finally {
      if (previous === undefined) delete process.env.SHARDNET_FAULT;
      else process.env.SHARDNET_FAULT = previous;
    }
    // If any worker survived, this test file's process would not exit and the runner would hang.
  });
});
