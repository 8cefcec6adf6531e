import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Packr } from "msgpackr";
import { type Checkpoint, readCheckpoint, writeCheckpoint } from "../src/checkpoint/checkpoint.ts";
import { DataError, UsageError } from "../src/errors.ts";
import { Fnv1a64 } from "../src/hash.ts";
import { paramCount } from "../src/model/params.ts";
import { optimizerConfig } from "../src/core/optimizer.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-checkpoint-"));

/** A small checkpoint whose parameters include the awkward floats: −0, subnormals, extremes. */
function sample(features = 3, hidden = 4): Checkpoint {
  const params = new Float64Array(paramCount(features, hidden));
  const special = [-0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -1 / 3];
  params.forEach((_, i) => params[i] = special[i] ?? Math.sin(i + 1) * 10 ** ((i % 7) - 3));
  return {
    epoch: 7,
    steps: 42,
    params,
    shuffleState: [0xdeadbeef, 0, 1, 0xffffffff],
    loss: 0.123456789,
    config: {
      data: "data/some file.csv",
      samples: 569,
      features,
      hidden,
      lr: 0.1 + 0.2,
      seed: 2 ** 40 + 3,
      batchSize: 100,
      dtype: "f32",
      standardize: "zscore",
      valSplit: 0.2,
      epochs: 10,
      backend: "js",
    },
    standardization: {
      mean: Float64Array.from({ length: features }, (_, k) => [1.5, -0, 1e-300][k % 3]),
      std: Float64Array.from({ length: features }, (_, k) => [0, 2, Math.PI][k % 3]),
    },
    dataFingerprint: "0123456789abcdef",
  };
}

function bits(a: Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

/** Asserts a one-line DataError naming the resume option and the file, that also matches `why`. */
function assertRejected(path: string, why: RegExp): void {
  assert.throws(() => readCheckpoint(path), (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.ok(e.message.startsWith(`resume ${path}: `), e.message);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    assert.match(e.message, why);
    return true;
  });
}

/** The envelope writeCheckpoint produces, for crafting files it would never write. */
const packr = new Packr({ useRecords: false, moreTypes: true });
function envelope(body: Uint8Array, fields: Record<string, unknown> = {}): Uint8Array {
  const checksum = new Fnv1a64().update(body).hex();
  return packr.pack({ format: "shardnet-checkpoint", version: 1, checksum, body, ...fields });
}

describe("checkpoint files", () => {
  it("round-trip every field, parameters and statistics bit for bit, as typed arrays", () => {
    const path = join(dir, "round.ckpt");
    const written = sample();
    writeCheckpoint(path, written);
    const read = readCheckpoint(path);
    assert.ok(read.params instanceof Float64Array);
    assert.equal(bits(read.params), bits(written.params));
    assert.equal(bits(read.standardization!.mean), bits(written.standardization!.mean));
    assert.equal(bits(read.standardization!.std), bits(written.standardization!.std));
    assert.deepEqual(read, written);
  });

  it("round-trips the optimizer, its state, the schedule and the best epoch bit for bit", () => {
    const path = join(dir, "adam.ckpt");
    const plain = sample();
    const size = plain.params.length;
    const written: Checkpoint = {
      ...plain,
      config: {
        ...plain.config,
        optimizer: optimizerConfig({ kind: "adam", beta2: 0.99, weightDecay: 1e-4 }),
        lrSchedule: {
          kind: "step",
          stepEpochs: 3,
          gamma: 0.5,
          minLearningRate: 0,
          warmupEpochs: 2,
        },
      },
      optimizerState: Float64Array.from({ length: 2 * size }, (_, i) => Math.sin(i) / 3),
      best: { epoch: 5, valLoss: 0.1 + 0.2, params: plain.params.map((v) => v / 2) },
    };
    writeCheckpoint(path, written);
    const read = readCheckpoint(path);
    assert.equal(bits(read.optimizerState!), bits(written.optimizerState!));
    assert.equal(bits(read.best!.params), bits(written.best!.params));
    assert.deepEqual(read, written);
    // The state must fit the optimizer: adam keeps two arrays.
    writeFileSync(
      path,
      envelope(packr.pack({ ...written, optimizerState: new Float64Array(size) })),
    );
    assertRejected(path, /truncated or corrupt checkpoint \(bad "optimizerState"\)$/);
    const sgd = { ...written.config, optimizer: { ...written.config.optimizer, kind: "sgd" } };
    writeFileSync(path, envelope(packr.pack({ ...written, config: sgd })));
    assertRejected(path, /truncated or corrupt checkpoint \(bad "optimizer"\)$/);
  });

  it("stores a run without standardization as null, and a subarray as just its elements", () => {
    const path = join(dir, "plain.ckpt");
    const base = sample(2, 1);
    const wide = new Float64Array(base.params.length + 2).fill(9);
    wide.set(base.params, 1);
    writeCheckpoint(path, {
      ...base,
      params: wide.subarray(1, 1 + base.params.length),
      standardization: null,
    });
    const read = readCheckpoint(path);
    assert.equal(read.standardization, null);
    assert.equal(bits(read.params), bits(base.params));
  });

  it("replaces the file by renaming a flushed temporary file, leaving no temporary behind", () => {
    const sub = mkdtempSync(join(dir, "atomic-"));
    const path = join(sub, "run.ckpt");
    writeCheckpoint(path, sample());
    writeCheckpoint(path, { ...sample(), epoch: 8 });
    assert.equal(readCheckpoint(path).epoch, 8);
    assert.deepEqual(readdirSync(sub), ["run.ckpt"]);
  });

  it("keeps the previous checkpoint intact when a write fails, with a one-line usage error", () => {
    const sub = mkdtempSync(join(dir, "failed-"));
    const path = join(sub, "run.ckpt");
    writeCheckpoint(path, sample());
    const before = readFileSync(path);
    // The temporary file's name is taken by a directory: the write fails before the rename.
    mkdirSync(`${path}.${process.pid}.tmp`);
    assert.throws(() => writeCheckpoint(path, { ...sample(), epoch: 9 }), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, new RegExp(`^checkpoint: cannot write ${path}: [^\\n]+$`));
      return true;
    });
    assert.deepEqual(readFileSync(path), before);
    assert.equal(readCheckpoint(path).epoch, 7);
  });

  it("rejects every truncation of a checkpoint with one line", () => {
    const path = join(dir, "whole.ckpt");
    writeCheckpoint(path, sample(2, 2));
    const bytes = readFileSync(path);
    const cut = join(dir, "cut.ckpt");
    for (let length = 0; length < bytes.length; length++) {
      writeFileSync(cut, bytes.subarray(0, length));
      assertRejected(cut, /truncated or corrupt checkpoint \(|not a shardnet checkpoint/);
    }
  });

  it("rejects a checkpoint with any one byte damaged", () => {
    const path = join(dir, "intact.ckpt");
    writeCheckpoint(path, sample(2, 2));
    const bytes = readFileSync(path);
    const damaged = join(dir, "damaged.ckpt");
    for (let at = 0; at < bytes.length; at++) {
      const copy = Uint8Array.from(bytes);
      copy[at] ^= 0x5a;
      writeFileSync(damaged, copy);
      assertRejected(damaged, /corrupt|not a shardnet checkpoint|format version|JSON/);
    }
  });

  it("names a checksum mismatch, an unknown version, a foreign file and a model file", () => {
    const path = join(dir, "crafted.ckpt");
    const body = packr.pack({ epoch: 1 });
    writeFileSync(path, envelope(body, { checksum: "0000000000000000" }));
    assertRejected(path, /truncated or corrupt checkpoint \(checksum mismatch\)$/);
    writeFileSync(path, envelope(body, { version: 2 }));
    assertRejected(path, /checkpoint format version 2; this program reads version 1$/);
    writeFileSync(path, packr.pack({ hello: "world" }));
    assertRejected(path, /not a shardnet checkpoint$/);
    writeFileSync(path, '{"hidden": 2, "features": 2}\n');
    assertRejected(path, /this is JSON, not a checkpoint; a model file is read with init$/);
    writeFileSync(path, new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
    assertRejected(path, /truncated or corrupt checkpoint \(/);
  });

  it("rejects a well-formed file whose fields do not make a checkpoint", () => {
    const path = join(dir, "fields.ckpt");
    const good = sample(2, 2);
    const cases: [Record<string, unknown>, string][] = [
      [{ params: new Float64Array(3) }, "params"],
      [{ params: Array.from(good.params) }, "params"],
      [{ params: good.params.map((v, i) => i === 2 ? NaN : v) }, "params"],
      [{ shuffleState: [1, 2, 3] }, "shuffleState"],
      [{ epoch: -1 }, "epoch"],
      [{ loss: Infinity }, "loss"],
      [{ dataFingerprint: "xyz" }, "dataFingerprint"],
      [{ config: { ...good.config, dtype: "f16" } }, "dtype"],
      [{ config: { ...good.config, lr: 0 } }, "lr"],
      [{ standardization: { mean: new Float64Array(1), std: new Float64Array(2) } }, "mean"],
    ];
    for (const [change, field] of cases) {
      writeFileSync(path, envelope(packr.pack({ ...good, ...change })));
      assertRejected(path, new RegExp(`truncated or corrupt checkpoint \\(bad "${field}"\\)$`));
    }
  });

  it("treats a missing file as a usage error", () => {
    const path = join(dir, "absent.ckpt");
    assert.ok(!existsSync(path));
    assert.throws(
      () => readCheckpoint(path),
      (e: unknown) =>
        e instanceof UsageError && e.message === `resume: cannot read checkpoint file: ${path}`,
    );
  });
});
