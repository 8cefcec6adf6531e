import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { jsKernels } from "../src/kernels/js.ts";
import { initModel } from "../src/model/model.ts";
import { forwardRows } from "../src/model/forward.ts";
import { StepShare } from "../src/core/step_share.ts";
import { allocateWorkspace, planWorkspace, workspaceViews } from "../src/core/workspace.ts";
import { Rng } from "../src/rng.ts";

/** A small f64 problem whose chunking splits the batch unevenly (37 rows, chunks of 16). */
function problem() {
  const m = 37, n = 5, h = 7;
  const rng = new Rng(7, "gradient-check");
  const layout = planWorkspace({
    dtype: "f64",
    samples: m,
    features: n,
    hidden: h,
    validationSamples: 0,
    batchSize: m,
    threads: 1,
    chunkRows: 16,
  });
  const ws = workspaceViews(allocateWorkspace(layout), layout);
  for (let i = 0; i < m * n; i++) ws.x[i] = rng.normal();
  for (let i = 0; i < m; i++) ws.y[i] = rng.uniform() < 0.5 ? 0 : 1;
  const model = initModel(n, h, 3);
  ws.params.all.set(model.params);
  for (let j = 0; j < h; j++) ws.params.b1[j] = 0.1 * rng.normal();
  ws.params.b2[0] = 0.2;
  return { m, n, h, ws };
}

describe("gradient", () => {
  it("matches central finite differences of the mean loss for every parameter (f64)", () => {
    const { m, n, h, ws } = problem();
    const share = new StepShare(jsKernels, ws, 0);
    const batch = { begin: 0, end: m, shuffled: false };
    const chunks = share.chunks(batch);
    assert.ok(chunks >= 2, "the check must cover the sum over several chunks");
    share.computeChunks(batch, 0, chunks);
    const size = ws.params.all.length;
    // The gradient as training takes it: the chunks' partials summed by the reduction tree.
    share.reduceSlice(chunks, { begin: 0, end: size });
    const analytic = ws.partialSlots[0].all.map((sum) => sum / m);

    const scratch = { a1: new Float64Array(m * h), z: new Float64Array(m) };
    const loss = () => {
      const stats = new Float64Array(2);
      forwardRows(jsKernels, ws.x, ws.y, m, ws.params, n, h, scratch, stats);
      return stats[0] / m;
    };
    const eps = 1e-6;
    let worst = 0;
    for (let p = 0; p < size; p++) {
      const saved = ws.params.all[p];
      ws.params.all[p] = saved + eps;
      const up = loss();
      ws.params.all[p] = saved - eps;
      const down = loss();
      ws.params.all[p] = saved;
      const numeric = (up - down) / (2 * eps);
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic[p]));
      const error = scale === 0 ? 0 : Math.abs(numeric - analytic[p]) / scale;
      assert.ok(
        error < 1e-6 || Math.abs(numeric - analytic[p]) < 1e-10,
        `parameter ${p}: analytic ${analytic[p]}, numeric ${numeric}, relative error ${error}`,
      );
      if (Math.abs(analytic[p]) > 1e-6) worst = Math.max(worst, error);
    }
    assert.ok(worst < 1e-6, `worst relative error ${worst}`);
  });
});
