import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { otherCpuShare, sampleCpu, waitForIdle } from "../src/bench/cpu_share.ts";
import type { Machine } from "../src/bench/machine.ts";
import { benchMarkdown } from "../src/bench/markdown.ts";
import type { BenchReport } from "../src/bench/report.ts";
import { buildReport } from "../src/bench/report.ts";
import { poolRounds } from "../src/bench/pool_rounds.ts";
import { pairedInterval, speedupInterval } from "../src/bench/speedup_interval.ts";
import type { Measurements, TrainRun } from "../src/bench/run_plan.ts";
import { spread } from "../src/bench/spread.ts";
import { flopsPerEpoch, type Workload } from "../src/bench/workloads.ts";
import { currentRuntime } from "../src/runtime/runtimes.ts";
import { runCli } from "./run_cli.ts";

/**
 * These tests spawn the real program; `bun test` would stop them after its default 5 s. The end
 * to end run, with its loopback cluster, takes about 10 s on a quiet machine and took 37 s on one loaded with twice its cores in
 * busy processes. Longer than `runCli`'s 120 s, so that a hung bench fails with its output.
 */
const SPAWN_TIMEOUT_MS = 150_000;

const MACHINE: Machine = {
  cpu: "Test CPU",
  logicalCores: 2,
  memoryBytes: 2 ** 34,
  os: "Linux test",
  loadAverage: [0, 0, 0],
};

const WORKLOAD: Workload = {
  name: "L",
  data: "xor",
  samples: 32768,
  features: 256,
  hidden: 64,
  dtype: "f32",
  warmup: 1,
  repeats: 3,
  rounds: 1,
};

/** A measured run of WORKLOAD: one step per epoch, so phase totals over 3 epochs are 3 steps. */
function run(workers: number, epochMs: number[], phaseMs: number[][], peak: number): TrainRun {
  return {
    workload: WORKLOAD,
    measurement: {
      kind: "train",
      runtime: "deno 2.9.6",
      backend: "wasm",
      samples: 32768,
      features: 256,
      hidden: 64,
      workers,
      warmupMs: [500],
      epochMs,
      steps: 3,
      timedMs: epochMs.reduce((a, b) => a + b, 0),
      phaseMs,
      otherCpuShare: 0.01,
      rssBeforeBytes: 100 * 2 ** 20,
      peakRssBytes: peak * 2 ** 20,
    },
    roundEpochMs: [epochMs],
  };
}

describe("bench report", () => {
  const measured: Measurements = {
    cluster: [],
    strong: [
      run(0, [100, 90, 110], [[270, 0, 27]], 200),
      run(2, [50, 60, 55], [[120, 30, 9], [150, 0, 9]], 230),
    ],
    weak: [],
    micro: [],
    numpy: [],
    attempts: 3,
  };
  const report = buildReport(measured, MACHINE, "deno task bench");

  it("derives speedup, efficiency, GFLOP/s and memory per worker from the medians", () => {
    const [base, two] = report.strong;
    assert.deepEqual(two.epochMs, { min: 50, median: 55, max: 60 });
    assert.equal(base.speedup, 1);
    assert.equal(two.speedup, 100 / 55);
    assert.equal(two.efficiency, 100 / 55 / 2);
    assert.equal(two.gflops, flopsPerEpoch(32768, 256, 64) / 55 / 1e6);
    assert.equal(two.samplesPerSecond, (32768 * 1000) / 55);
    assert.equal(two.rssPerWorkerBytes, 15 * 2 ** 20);
    assert.equal(base.rssPerWorkerBytes, null);
    assert.equal(two.otherCpuShare, 0.01);
    // One round each: nothing to resample.
    assert.equal(two.speedupInterval, null);
  });

  it("sets each cluster run beside as many worker threads, with its wire and wait per step", () => {
    const onCluster = (processes: number, epochMs: number[]): TrainRun => {
      const r = run(0, epochMs, [[1, 0, 0]], 200);
      return {
        ...r,
        measurement: {
          ...r.measurement,
          transport: {
            processes,
            bytesPerStep: 132_000 * processes,
            syncMs: 1.5,
            rowsPerProcess: processes === 2 ? [16384, 16384] : [32768],
            workerPeakRssBytes: processes === 2 ? [150 * 2 ** 20, 160 * 2 ** 20] : [null],
          },
        },
      };
    };
    const r = buildReport(
      { ...measured, cluster: [onCluster(2, [66, 70, 68]), onCluster(1, [120, 110, 100])] },
      MACHINE,
      "x",
    );
    const [two, one] = r.cluster;
    assert.equal(two.processes, 2);
    assert.equal(two.vsThreads, 68 / 55);
    assert.equal(two.syncMs, 1.5);
    assert.equal(two.bytesPerStep, 264_000);
    // One step per epoch; `--workers 0` took a median 100 ms.
    assert.equal(two.stepMs, 68);
    assert.equal(two.overheadMs, 68 - 100);
    assert.equal(two.overheadInterval, null);
    assert.deepEqual(two.rowsPerProcess, [16384, 16384]);
    assert.deepEqual(two.workerPeakRssBytes, [160 * 2 ** 20, 150 * 2 ** 20]);
    // No run at one worker thread to set it beside.
    assert.ok(Number.isNaN(one.vsThreads));
    assert.deepEqual(one.workerPeakRssBytes, [null]);
    const md = benchMarkdown(r);
    assert.match(
      md,
      /## Cluster on loopback NATS[\s\S]*\| L +\| deno 2\.9\.6 \| wasm +\| +2 \| 68\.0 .*\| +1\.24 \| +68\.0 \| +-32\.0 \| +1\.50 \| +264,000 \| +16384 \| +160 \|/,
    );
    assert.match(
      md,
      /\| +1 \| +110 .*\| +– \| +110 \| +10\.0 \| +1\.50 \| +132,000 \| +32768 \| +– \|/,
    );
  });

  it("gives the cluster's overhead per step its interval over the rounds, paired by round", () => {
    const inRounds = (epochs: number[][], steps: number): TrainRun => {
      const r = run(0, epochs.flat(), [[1, 0, 0]], 200);
      return { ...r, measurement: { ...r.measurement, steps }, roundEpochMs: epochs };
    };
    const base = [[1.0, 1.2], [2.0, 2.2], [1.1, 1.1]];
    // Two steps per epoch on the cluster, so its step takes half an epoch.
    const cluster = [[3.0, 3.4], [5.0, 5.4], [3.2, 3.2]];
    const onCluster = inRounds(cluster, 12);
    const r = buildReport(
      {
        ...measured,
        strong: [inRounds(base, 6)],
        cluster: [{
          ...onCluster,
          measurement: {
            ...onCluster.measurement,
            transport: {
              processes: 1,
              bytesPerStep: 1,
              syncMs: 1,
              rowsPerProcess: [569],
              workerPeakRssBytes: [1],
            },
          },
        }],
      },
      MACHINE,
      "x",
    );
    const [c] = r.cluster;
    assert.equal(c.stepMs, 3.3 / 2);
    assert.equal(c.overheadMs, 3.3 / 2 - 1.15);
    assert.deepEqual(
      c.overheadInterval,
      pairedInterval(base, cluster, (b, x) => x / 2 - b),
    );
    assert.ok(c.overheadInterval!.low <= c.overheadMs && c.overheadMs <= c.overheadInterval!.high);
  });

  it("gives each speedup its bootstrap interval over the rounds, paired by round", () => {
    const rounds = (workers: number, epochs: number[][]) => ({
      ...run(workers, epochs.flat(), [[1, 0, 0]], 200),
      roundEpochMs: epochs,
    });
    const base = [[100, 90], [110, 120], [95, 97]];
    const two = [[50, 48], [60, 70], [52, 50]];
    const r = buildReport(
      { ...measured, strong: [rounds(0, base), rounds(2, two)] },
      MACHINE,
      "x",
    );
    assert.deepEqual(r.strong[1].speedupInterval, speedupInterval(base, two));
    assert.deepEqual(r.strong[0].speedupInterval, { low: 1, high: 1 });
  });

  it("pools NumPy's rounds and sets each workers-0 run beside them, paired by round", () => {
    const rounds = (workers: number, epochs: number[][]) => ({
      ...run(workers, epochs.flat(), [[1, 0, 0]], 200),
      roundEpochMs: epochs,
    });
    const base = [[100, 90], [110, 120], [95, 97]];
    const numpyRounds = [[200, 210], [300, 280], [190, 200]];
    const timing = (epochMs: number[]) => ({
      numpy: "2.4.6",
      blas: "scipy-openblas",
      threads: 1,
      epochMs,
    });
    const r = buildReport(
      {
        ...measured,
        strong: [rounds(0, base), rounds(2, [[50, 48], [60, 70], [52, 50]])],
        numpy: numpyRounds.map((epochMs) => ({
          workload: WORKLOAD,
          backend: "auto",
          timing: timing(epochMs),
        })),
      },
      MACHINE,
      "x",
    );
    assert.equal(r.numpy.length, 1);
    const [row] = r.numpy;
    assert.deepEqual(row.epochMs, spread(numpyRounds.flat()));
    assert.equal(row.beside.length, 1);
    const [beside] = row.beside;
    assert.equal(beside.backend, "wasm");
    assert.equal(beside.ratio, spread(numpyRounds.flat()).median / spread(base.flat()).median);
    assert.deepEqual(beside.interval, speedupInterval(numpyRounds, base));
    assert.ok(beside.interval!.low < beside.ratio && beside.ratio < beside.interval!.high);
    assert.match(benchMarkdown(r), /deno 2\.9\.6 wasm: 10\.2 \(2\.08×; \d\.\d\d–\d\.\d\d×\)/);
  });

  it("breaks a step down by phase and defines sync as wall minus the longest compute", () => {
    const p = report.phases[1];
    assert.equal(p.wallMs, 55);
    assert.equal(p.computeMs, 45);
    assert.equal(p.computeMaxMs, 50);
    assert.equal(p.barrierMs, 5);
    assert.equal(p.reduceMs, 3);
    assert.equal(p.coordinationMs, 55 - 45 - 5 - 3);
    assert.equal(p.syncMs, 5);
  });

  it("pools each configuration's rounds into one measurement, in first-seen order", () => {
    const second = run(0, [80, 95], [[170, 0, 18]], 260);
    const pooled = poolRounds([
      measured.strong[0],
      measured.strong[1],
      { ...second, measurement: { ...second.measurement, otherCpuShare: 0.3 } },
    ]);
    assert.equal(pooled.length, 2);
    const [base, two] = pooled;
    assert.equal(two, measured.strong[1]);
    assert.deepEqual(base.roundEpochMs, [[100, 90, 110], [80, 95]]);
    assert.deepEqual(base.measurement.epochMs, [100, 90, 110, 80, 95]);
    assert.equal(base.measurement.steps, 6);
    assert.equal(base.measurement.timedMs, 300 + 175);
    assert.deepEqual(base.measurement.phaseMs, [[440, 0, 45]]);
    assert.deepEqual(base.measurement.warmupMs, [500]);
    assert.equal(base.measurement.otherCpuShare, 0.3);
    assert.equal(base.measurement.peakRssBytes, 260 * 2 ** 20);
    assert.equal(
      buildReport({ ...measured, strong: pooled }, MACHINE, "x").strong[0].epochMs.median,
      95,
    );
  });

  it("counts 4·m·n·h + 6·m·h FLOPs per epoch", () => {
    assert.equal(flopsPerEpoch(32768, 256, 64), 4 * 32768 * 256 * 64 + 6 * 32768 * 64);
    assert.equal(report.flopsFormula, "4·m·n·h + 6·m·h");
  });

  it("takes the CPU time of other processes as a share of the machine", () => {
    const before = { busy: 1000, total: 4000, own: 500 };
    assert.equal(otherCpuShare(before, { busy: 1800, total: 5000, own: 1100 }), 0.2);
    assert.equal(otherCpuShare(before, { busy: 1600, total: 5000, own: 1100 }), 0);
    // The suite runs on Linux (namespaces, /proc), where the sample is always there.
    const now = sampleCpu();
    assert.ok(now !== null, "/proc/stat and /proc/self/stat are readable");
    assert.ok(now.busy <= now.total && now.own > 0, JSON.stringify(now));
  });

  it("waits for the machine to go idle only until the deadline", async () => {
    // Whatever the load: no share of the CPUs is below 0 and every share is at most 1.
    assert.equal(await waitForIdle(1, 60_000), true);
    assert.equal(await waitForIdle(-1, 0), sampleCpu() === null);
  });

  it("reports min, median and max", () => {
    assert.deepEqual(spread([3, 1, 2, 10]), { min: 1, median: 2.5, max: 10 });
    assert.deepEqual(spread([7]), { min: 7, median: 7, max: 7 });
  });

  it("writes a table per measurement kind in Markdown", () => {
    const md = benchMarkdown(report);
    for (const heading of ["Strong scaling", "Where a step's time goes", "Peak memory"]) {
      assert.match(md, new RegExp(`^## ${heading}$`, "m"));
    }
    assert.match(
      md,
      /^\| L +\| deno 2\.9\.6 \| wasm +\| +2 \| +55\.0 \(50\.0–60\.0\) \| +1\.82× \|/m,
    );
    assert.match(md, /more than 10 % is measured again when the machine is idle, up to 3 times/);
    const once = benchMarkdown(buildReport({ ...measured, attempts: 1 }, MACHINE, "x"));
    assert.match(once, /each configuration was measured once: where the share/);
    assert.doesNotMatch(once, /measured again/);
  });
});

describe("bench command", () => {
  it("measures a tiny workload end to end and writes JSON, Markdown and SVG charts", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const out = mkdtempSync(join(tmpdir(), "shardnet-bench-"));
    const r = await runCli("bench", [
      ...["--quick", "--workloads", "custom", "--samples", "512", "--features", "8"],
      ...["--hidden", "4", "--workers", "2", "--repeats", "3", "--warmup", "1"],
      ...["--weak-samples", "128", "--runtime", currentRuntime(), "--out-dir", out],
      // Measured once however busy the machine: the test must not wait for it to go idle.
      ...["--attempts", "1", "--cluster-processes", "1"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), [
      "bench.json",
      "bench.md",
      "memory.svg",
      "phases.svg",
      "speedup.svg",
      "weak_scaling.svg",
    ]);
    const report = JSON.parse(readFileSync(join(out, "bench.json"), "utf8")) as BenchReport;
    assert.equal(report.machine.logicalCores > 0, true);
    assert.equal(report.runtimes.length, 1);
    assert.equal(report.measurements.attempts, 1);
    assert.deepEqual(report.strong.map((s) => s.workers), [0, 2]);
    // One worker process holding all 512 rows, measured in the same 2 rounds as the threads.
    const [onCluster] = report.cluster;
    assert.equal(report.cluster.length, 1);
    assert.equal(onCluster.processes, 1);
    assert.deepEqual(onCluster.rowsPerProcess, [512]);
    assert.ok(onCluster.workerPeakRssBytes[0]! > 0);
    assert.ok(Number.isFinite(onCluster.overheadMs));
    assert.ok(onCluster.overheadInterval!.low <= onCluster.overheadInterval!.high);
    assert.equal(report.strong[0].speedup, 1);
    for (const s of report.strong) {
      assert.equal(s.workload, "custom");
      assert.equal(s.samples, 512);
      assert.ok(s.epochMs.min <= s.epochMs.median && s.epochMs.median <= s.epochMs.max);
      assert.ok(s.gflops > 0 && s.peakRssBytes! > 0);
      assert.ok(s.otherCpuShare! >= 0 && s.otherCpuShare! <= 1);
    }
    assert.equal(report.phases.length, 2);
    assert.equal(report.phases[1].workers, 2);
    assert.deepEqual(report.weak.map((w) => [w.workers, w.samples]), [[0, 128], [2, 256]]);
    const micro = new Set(report.micro.map((m) => m.name));
    for (const name of ["hiddenForward", "weightGradient", "reduce+update", "step round-trip"]) {
      assert.ok(micro.has(name), name);
    }
    // --quick measures in 2 rounds: 3 timed epochs become 1 + 2, pooled again.
    assert.equal(report.measurements.strong.length, 2);
    assert.deepEqual(report.measurements.strong[0].roundEpochMs.map((r) => r.length), [1, 2]);
    assert.equal(report.measurements.strong[0].measurement.epochMs.length, 3);
    const md = readFileSync(join(out, "bench.md"), "utf8");
    assert.equal(r.stdout, md);
    assert.match(md, /^## Strong scaling$/m);
    assert.match(md, /^!\[Speedup\]\(speedup\.svg\)$/m);
    const speedup = readFileSync(join(out, "speedup.svg"), "utf8");
    assert.match(speedup, /^<svg /);
    assert.match(speedup, /Strong scaling: speedup over --workers 0/);
    assert.match(speedup, /ideal: N×/);
    assert.match(readFileSync(join(out, "phases.svg"), "utf8"), /barrier wait/);
  });

  it("rejects bad lists and stray workload flags in one line with status 2", {
    timeout: SPAWN_TIMEOUT_MS,
  }, async () => {
    const cases = [
      [["--workloads", "M"], /^bench: --workloads: expected a comma-separated list of/],
      [["--workers", "0,two"], /^bench: --workers: expected comma-separated integers ≥ 0/],
      [["--runtime", "node"], /^bench: --runtime: expected a comma-separated list of deno, bun/],
      [["--workloads", "small", "--samples", "100"], /^bench: --samples: describes the custom/],
      [["--attempts", "0"], /^bench: --attempts: /],
      [["--optimizers", "--quick"], /^bench: --quick: not with --optimizers\n$/],
      [["--optimizers", "--workers", "1,2"], /^bench: --workers: expected comma-separated/],
      [["--optimizers", "--backend", "js,wasm"], /^bench: --backend: one backend with/],
    ] as const;
    for (const [args, message] of cases) {
      const r = await runCli("bench", args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
