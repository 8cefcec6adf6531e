import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type OptimizerConfig,
  optimizerConfig,
  type OptimizerOptions,
  optimizerState,
  optimizerStep,
  stateArrays,
} from "../src/core/optimizer.ts";
import type { Floats } from "../src/dtype.ts";
import { UsageError } from "../src/errors.ts";
import { descend } from "../src/core/descend.ts";
import { Rng } from "../src/rng.ts";

const KINDS: OptimizerOptions[] = [
  {},
  { weightDecay: 0.03 },
  { momentum: 0.9 },
  { momentum: 0.9, nesterov: true, weightDecay: 0.01 },
  { kind: "adam" },
  { kind: "adam", weightDecay: 0.02 },
  { kind: "adamw" },
];

/** The raw bits of a float array, so that −0 and +0 (and NaN payloads) count as different. */
function bits(a: Floats): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function random(make: (n: number) => Floats, n: number, rng: Rng, scale: number): Floats {
  const a = make(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** A single-parameter run of `steps` steps with gradient sum `sum` over m = 2 rows. */
function oneParameter(options: OptimizerOptions, lr: number, steps: number, sum = 4): number {
  const config = optimizerConfig(options);
  const params = new Float64Array([1]);
  const state = optimizerState(config, 1, new Float64Array(2));
  for (let t = 1; t <= steps; t++) {
    optimizerStep(config, params, new Float64Array([sum]), state, 0, 1, 2, lr, t);
  }
  return params[0];
}

/** Options as JSON, with NaN and Infinity spelled out. */
function show(options: OptimizerOptions): string {
  return JSON.stringify(options, (_, v) => typeof v === "number" && !isFinite(v) ? String(v) : v);
}

function close(got: number, want: number, tolerance = 1e-15): void {
  assert.ok(Math.abs(got - want) <= tolerance, `${got}, expected ${want}`);
}

describe("optimizerStep", () => {
  for (const dtype of ["f32", "f64"] as const) {
    it(`plain sgd has the bits of the descent step (${dtype})`, () => {
      const make = (n: number) => dtype === "f32" ? new Float32Array(n) : new Float64Array(n);
      const rng = new Rng(3, "optimizer");
      const count = 301, chunks = 7, m = 413, lr = 0.37;
      const partials = random(make, chunks * count, rng, 5);
      const before = random(make, count, rng, 1);
      const sum = make(count);
      for (let c = 0; c < chunks; c++) {
        for (let p = 0; p < count; p++) sum[p] += partials[c * count + p];
      }
      const viaKernel = before.slice();
      for (const [p0, p1] of [[0, 100], [100, 301]]) descend(viaKernel, sum, p0, p1, lr, m);
      const config = optimizerConfig();
      const viaOptimizer = before.slice();
      const state = optimizerState(config, count, new Float64Array(0));
      optimizerStep(config, viaOptimizer, sum, state, 0, count, m, lr, 1);
      assert.deepEqual(bits(viaOptimizer), bits(viaKernel));
      assert.notDeepEqual(bits(viaOptimizer), bits(before));
    });
  }

  for (const options of KINDS) {
    it(`gives the same bits whatever the slicing: ${show(options)}`, () => {
      const config = optimizerConfig(options);
      const rng = new Rng(5, "slices");
      const count = 97;
      const start = random((n) => new Float32Array(n), count, rng, 1);
      const whole = { params: start.slice(), state: new Float64Array(2 * count) };
      const sliced = { params: start.slice(), state: new Float64Array(2 * count) };
      for (let t = 1; t <= 4; t++) {
        const sum = random((n) => new Float32Array(n), count, rng, 3);
        const lr = 0.05 / t;
        const a = optimizerState(config, count, whole.state);
        optimizerStep(config, whole.params, sum, a, 0, count, 11, lr, t);
        const b = optimizerState(config, count, sliced.state);
        for (const [p0, p1] of [[60, 97], [0, 1], [1, 60]]) {
          optimizerStep(config, sliced.params, sum, b, p0, p1, 11, lr, t);
        }
      }
      assert.deepEqual(bits(sliced.params), bits(whole.params));
      assert.deepEqual(bits(sliced.state), bits(whole.state));
      assert.notDeepEqual(bits(whole.params), bits(start));
    });
  }

  it("touches nothing outside its slice", () => {
    for (const options of KINDS) {
      const config = optimizerConfig(options);
      const params = new Float64Array([1, 2, 3, 4]);
      const buffer = new Float64Array(8);
      optimizerStep(
        config,
        params,
        new Float64Array([5, 5, 5, 5]),
        optimizerState(config, 4, buffer),
        1,
        3,
        1,
        0.1,
        1,
      );
      assert.equal(params[0], 1);
      assert.equal(params[3], 4);
      assert.notEqual(params[1], 2);
      for (const i of [0, 3, 4, 7]) assert.equal(buffer[i], 0);
    }
  });

  it("sgd: momentum, nesterov and weight decay by hand (g = 2, lr = 0.1)", () => {
    close(oneParameter({}, 0.1, 1), 0.8);
    close(oneParameter({ weightDecay: 0.5 }, 0.1, 1), 1 - 0.1 * (2 + 0.5));
    // b = 2, then 0.5·2 + 2 = 3: p = 1 − 0.2 − 0.3.
    close(oneParameter({ momentum: 0.5 }, 0.1, 2), 0.5);
    // d = g + μ·b: 2 + 1 = 3, then 2 + 0.5·3 = 3.5: p = 1 − 0.3 − 0.35.
    close(oneParameter({ momentum: 0.5, nesterov: true }, 0.1, 2), 0.35);
  });

  it("adam: with a constant gradient every step is lr·g/(|g| + ε), bias correction included", () => {
    const step = 0.1 * 2 / (2 + 1e-8);
    close(oneParameter({ kind: "adam" }, 0.1, 1), 1 - step);
    close(oneParameter({ kind: "adam" }, 0.1, 3), 1 - 3 * step, 1e-14);
    close(oneParameter({ kind: "adam", eps: 0.5 }, 0.1, 1), 1 - 0.1 * 2 / 2.5);
    // ε is added after the square root: with g = 10⁻⁸, |g| = ε and the step is lr/2.
    close(oneParameter({ kind: "adam" }, 0.1, 1, 2e-8), 1 - 0.05);
  });

  it("adam adds λ·p to the gradient; adamw decays p by (1 − lr·λ) before the step", () => {
    // g = 2 + 0.5·1; the first step is lr·sign(g) up to ε.
    close(oneParameter({ kind: "adam", weightDecay: 0.5 }, 0.1, 1), 1 - 0.1 * 2.5 / (2.5 + 1e-8));
    close(
      oneParameter({ kind: "adam", weightDecay: 0.5 }, 0.1, 1, 0),
      1 - 0.1 * 0.5 / (0.5 + 1e-8),
    );
    close(oneParameter({ kind: "adamw", weightDecay: 0.5 }, 0.1, 1), 0.95 - 0.1 * 2 / (2 + 1e-8));
    close(oneParameter({ kind: "adamw" }, 0.1, 1, 0), 1 - 0.1 * 0.01);
  });

  it("adam leaves a parameter whose gradient is always zero unchanged (no NaN)", () => {
    close(oneParameter({ kind: "adam" }, 0.1, 5, 0), 1, 0);
    close(oneParameter({ kind: "adamw", weightDecay: 0 }, 0.1, 5, 0), 1, 0);
  });
});

describe("optimizerConfig", () => {
  it("fills in torch's defaults, with weight decay 0.01 for adamw only", () => {
    const base = { momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    assert.deepEqual(optimizerConfig(), { kind: "sgd", ...base, weightDecay: 0 });
    assert.deepEqual(optimizerConfig({ kind: "adam" }), { kind: "adam", ...base, weightDecay: 0 });
    assert.deepEqual(optimizerConfig({ kind: "adamw" }), {
      kind: "adamw",
      ...base,
      weightDecay: 0.01,
    });
    assert.equal(optimizerConfig({ kind: "adamw", weightDecay: 0 }).weightDecay, 0);
  });

  const refused: [OptimizerOptions, RegExp][] = [
    [{ nesterov: true }, /^nesterov needs momentum > 0$/],
    [{ momentum: 0, nesterov: true }, /^nesterov needs momentum > 0$/],
    [{ kind: "adam", momentum: 0.9 }, /^momentum applies to sgd only, not to adam$/],
    [{ kind: "adamw", nesterov: false }, /^nesterov applies to sgd only, not to adamw$/],
    [{ beta1: 0.9 }, /^beta1 applies to adam and adamw only, not to sgd$/],
    [{ eps: 1e-6 }, /^eps applies to adam and adamw only, not to sgd$/],
    [{ kind: "adam", beta2: 1 }, /^beta2: expected a number ≥ 0 and < 1, got 1$/],
    [{ kind: "adam", beta1: -0.1 }, /^beta1: expected a number ≥ 0 and < 1, got -0.1$/],
    [{ momentum: 1 }, /^momentum: expected a number ≥ 0 and < 1, got 1$/],
    [{ momentum: NaN }, /^momentum: expected a number ≥ 0 and < 1, got NaN$/],
    [{ kind: "adam", eps: 0 }, /^eps: expected a number > 0, got 0$/],
    [{ weightDecay: -1 }, /^weightDecay: expected a number ≥ 0, got -1$/],
    [{ weightDecay: Infinity }, /^weightDecay: expected a number ≥ 0, got Infinity$/],
    [{ kind: "rmsprop" as "sgd" }, /^kind: expected one of sgd, adam, adamw, got "rmsprop"$/],
  ];
  for (const [options, message] of refused) {
    it(`refuses ${show(options)} naming the option`, () => {
      assert.throws(
        () => optimizerConfig(options),
        (e) => e instanceof UsageError && message.test(e.message),
      );
    });
  }
});

describe("optimizerState", () => {
  it("keeps no array for plain sgd, the velocity with momentum, both moments for adam", () => {
    const config = (o: OptimizerOptions): OptimizerConfig => optimizerConfig(o);
    assert.equal(stateArrays(config({})), 0);
    assert.equal(stateArrays(config({ weightDecay: 0.1 })), 0);
    assert.equal(stateArrays(config({ momentum: 0.5 })), 1);
    assert.equal(stateArrays(config({ kind: "adam" })), 2);
    assert.equal(stateArrays(config({ kind: "adamw" })), 2);
  });

  it("lays the arrays out one after the other from the offset", () => {
    const buffer = new Float64Array(12);
    const adam = optimizerState(optimizerConfig({ kind: "adam" }), 5, buffer, 2);
    adam.first.fill(1);
    adam.second.fill(2);
    assert.deepEqual(Array.from(buffer), [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    const sgd = optimizerState(optimizerConfig({ momentum: 0.9 }), 5, buffer, 7);
    assert.equal(sgd.first.length, 5);
    assert.equal(sgd.second.length, 0);
    assert.throws(
      () => optimizerState(optimizerConfig({ kind: "adamw" }), 5, buffer, 3),
      /optimizer state needs 10 values at 3, buffer has 12/,
    );
  });
});
