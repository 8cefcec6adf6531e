import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { optimizerConfig, type OptimizerOptions } from "../src/core/optimizer.ts";
import { batchRanges, chunkCount } from "../src/core/shards.ts";
import { allocateWorkspace, planWorkspace, workspaceViews } from "../src/core/workspace.ts";
import type { Dtype } from "../src/dtype.ts";
import { deal, type Member } from "../src/engines/cluster/assignment.ts";
import { BlockCombiner } from "../src/engines/cluster/block_combiner.ts";
import { BlockComputer } from "../src/engines/cluster/block_computer.ts";
import { MemoryRows } from "../src/engines/cluster/memory_rows.ts";
import { LocalEngine } from "../src/engines/local/local_engine.ts";
import { generate } from "../src/data/generators.ts";
import { initModel } from "../src/model/model.ts";
import { loadKernels } from "../src/kernels/select.ts";
import { Rng } from "../src/rng.ts";
import type { BackendName } from "../src/kernels/select.ts";

interface Case {
  dtype: Dtype;
  backend: BackendName;
  samples: number;
  batchSize: number;
  members: Member[];
  /** Default plain sgd. */
  optimizer?: OptimizerOptions;
}

/** A workspace with the data and initial parameters of `c`, as the trainer lays it out. */
async function coordinator(c: Case) {
  const data = generate("circles", c.samples, 6, 3);
  const layout = planWorkspace({
    dtype: c.dtype,
    samples: c.samples,
    features: 6,
    hidden: 9,
    validationSamples: 0,
    batchSize: c.batchSize,
    threads: 0,
    optimizer: optimizerConfig(c.optimizer),
  });
  const memory = allocateWorkspace(layout);
  const ws = workspaceViews(memory, layout);
  ws.x.set(data.x);
  ws.y.set(data.y);
  ws.params.all.set(initModel(6, 9, 5).params);
  return {
    ws,
    kernels: await loadKernels(c.backend, c.dtype, memory, c.backend === "js" ? null : "relaxed"),
  };
}

/** Trains 3 epochs with the local engine, or with simulated worker processes; returns the bits. */
async function run(c: Case, cluster: boolean): Promise<string> {
  const { ws, kernels } = await coordinator(c);
  const shuffled = c.batchSize < c.samples;
  const order = shuffled ? new Int32Array(c.samples) : null;
  const rng = new Rng(1, "shuffle");
  const local = new LocalEngine(kernels, ws);
  const spec = {
    dtype: c.dtype,
    features: 6,
    hidden: 9,
    samples: c.samples,
    batchSize: c.batchSize,
    chunkRows: ws.layout.chunkRows,
    backend: c.backend,
    kernelVariant: c.backend === "js" ? null : "relaxed" as const,
    dataFingerprint: "test",
  };
  const workers = c.members.map((m) => new BlockComputer(spec, m.threads));
  const rows = new MemoryRows(ws.x, ws.y, 6);
  const combiner = new BlockCombiner(kernels, ws);
  const losses: number[] = [];
  let t = 0;
  try {
    for (let epoch = 1; epoch <= 3; epoch++) {
      if (order) {
        for (let i = 0; i < c.samples; i++) order[i] = i;
        rng.shuffle(order);
      }
      for (const range of batchRanges(c.samples, c.batchSize)) {
        const batch = { ...range, shuffled };
        // A rate that changes with the epoch, as a schedule's does.
        const lr = 0.3 / epoch;
        t++;
        let out;
        if (!cluster) {
          out = local.step({ batch, order, epoch, learningRate: lr, step: t });
        } else {
          const chunks = chunkCount(range.end - range.begin, ws.layout.chunkRows);
          combiner.begin(chunks);
          const dealt = deal(chunks, c.members);
          for (const [i, member] of c.members.entries()) {
            const blocks = dealt.get(member.id)!;
            const got = await workers[i].compute(ws.params.all, range, blocks, order, rows);
            let at = 0;
            blocks.forEach((block, b) => {
              const held = Math.min(block.span, chunks - block.first);
              const size = ws.layout.paramCount;
              combiner.put(
                block,
                got.sums.subarray(b * size, (b + 1) * size),
                got.chunkStats.subarray(at, at + 2 * held),
              );
              at += 2 * held;
            });
          }
          assert.ok(combiner.complete);
          out = combiner.finish(lr, range.end - range.begin, t);
        }
        for (let k = 0; k < out.chunks; k++) losses.push(out.chunkStats[2 * k]);
      }
    }
  } finally {
    for (const w of workers) await w.close();
  }
  const state = ws.optimizerState;
  return JSON.stringify([
    Array.from(ws.params.all),
    losses,
    Array.from(state.first),
    Array.from(state.second),
  ]);
}

const one: Member[] = [{ id: "a", threads: 1 }];
const three: Member[] = [
  { id: "a", threads: 2 },
  { id: "b", threads: 1 },
  { id: "c", threads: 1 },
];

describe("cluster blocks: workers summing aligned blocks, the coordinator finishing the tree", () => {
  for (const backend of ["js", "wasm"] as const) {
    for (
      const c of [
        { dtype: "f64", samples: 1000, batchSize: 1000, members: three },
        { dtype: "f32", samples: 2500, batchSize: 2500, members: one },
        { dtype: "f32", samples: 1000, batchSize: 96, members: three },
        { dtype: "f64", samples: 777, batchSize: 200, members: one },
      ] as const
    ) {
      const label = `${backend} ${c.dtype}, ${c.samples} rows, batches of ${c.batchSize}, ` +
        `${c.members.length} worker(s)`;
      it(`gives the bits of the local engine: ${label}`, { timeout: 120_000 }, async () => {
        const cs = { ...c, backend, members: [...c.members] };
        assert.equal(await run(cs, true), await run(cs, false));
      });
    }
  }
  for (
    const optimizer of [
      { momentum: 0.9, nesterov: true, weightDecay: 0.01 },
      { kind: "adam", weightDecay: 0.001 },
      { kind: "adamw" },
    ] as const
  ) {
    for (const batchSize of [1000, 96]) {
      const label = `${JSON.stringify(optimizer)}, batches of ${batchSize}`;
      it(`applies the optimizer as the local engine does: ${label}`, {
        timeout: 120_000,
      }, async () => {
        const cs = {
          dtype: "f32" as const,
          backend: "wasm" as const,
          samples: 1000,
          batchSize,
          members: [...three],
          optimizer,
        };
        const bits = await run(cs, true);
        assert.equal(bits, await run(cs, false));
        // The state moved: the optimizer ran, not plain descent.
        assert.ok(JSON.parse(bits)[2].some((v: number) => v !== 0));
      });
    }
  }
});
