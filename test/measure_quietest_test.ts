import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Measurement, TrainMeasurement } from "../src/bench/jobs.ts";
import { measureQuietest } from "../src/bench/measure_quietest.ts";

/** A training measurement that saw other processes take `share` of the CPUs. */
function train(share: number | null): TrainMeasurement {
  return {
    kind: "train",
    runtime: "deno 2.9.6",
    backend: "js",
    samples: 64,
    features: 2,
    hidden: 4,
    workers: 2,
    warmupMs: [1],
    epochMs: [1],
    steps: 1,
    timedMs: 1,
    phaseMs: [[1, 0, 0]],
    otherCpuShare: share,
    rssBeforeBytes: 1,
    peakRssBytes: 2,
  };
}

/**
 * Measures with fake load readings: each measurement returns the next of `readings`; records the
 * shares `beforeRetake` was told, without waiting for anything.
 */
async function quietest(readings: Measurement[], attempts = 3) {
  let taken = 0;
  const waits: number[] = [];
  const kept = await measureQuietest(() => {
    assert.ok(taken < readings.length, "measured more often than expected");
    return Promise.resolve(readings[taken++]);
  }, {
    attempts,
    busyShare: 0.1,
    beforeRetake: (busy) => Promise.resolve(waits.push(busy)),
  });
  return { kept, taken, waits, index: readings.indexOf(kept) };
}

describe("measureQuietest", () => {
  it("keeps a measurement taken on a quiet machine without measuring again", async () => {
    for (const share of [0, 0.1, null]) {
      assert.deepEqual(await quietest([train(share)]), {
        kept: train(share),
        taken: 1,
        waits: [],
        index: 0,
      });
    }
  });

  it("waits and measures again while the machine is busy, stopping once it is quiet", async () => {
    const r = await quietest([train(0.4), train(0.05), train(0)]);
    assert.deepEqual([r.taken, r.waits, r.index], [2, [0.4], 1]);
  });

  it("stops after `attempts` measurements and keeps the one that saw the least load", async () => {
    const r = await quietest([train(0.5), train(0.3), train(0.4)]);
    assert.deepEqual([r.taken, r.waits, r.index], [3, [0.5, 0.3], 1]);
    const tie = await quietest([train(0.3), train(0.3), train(0.6)]);
    assert.deepEqual([tie.taken, tie.waits, tie.index], [3, [0.3, 0.3], 0]);
  });

  it("with one attempt measures once and never waits, however busy the machine", async () => {
    const r = await quietest([train(0.9)], 1);
    assert.deepEqual([r.taken, r.waits, r.index], [1, [], 0]);
  });

  it("takes a micro-benchmark measurement once", async () => {
    const micro: Measurement = { kind: "micro", runtime: "bun 1.4.5", backend: "js", results: [] };
    const r = await quietest([micro]);
    assert.deepEqual([r.taken, r.waits, r.index], [1, [], 0]);
  });
});
