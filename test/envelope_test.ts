import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  type ChunkBlock,
  DecodeBuffers,
  type Decoded,
  decodeEnvelope,
  EncodeBuffer,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
  MAX_DEALS,
  type RejectReason,
  senderOf,
} from "../src/engines/cluster/envelope.ts";
import { subject } from "../src/engines/cluster/subjects.ts";

const REASONS: readonly RejectReason[] = [
  "oversize",
  "not_msgpack",
  "not_envelope",
  "version",
  "kind",
  "shape",
  "non_finite",
];

const P = 7;

function stepEnvelope(): Envelope<"step"> {
  return {
    v: ENVELOPE_VERSION,
    kind: "step",
    run: "run-1",
    step: 3,
    from: "coordinator",
    body: {
      dtype: "f32",
      params: Float32Array.from({ length: P }, (_, i) => i / 3 - 1),
      begin: 64,
      end: 164,
      rows: Uint32Array.from({ length: 100 }, (_, i) => (i * 37) % 1000),
      chunkRows: 32,
      blocks: [{ first: 0, span: 2 }, { first: 3, span: 1 }],
    },
  };
}

/** A step of 4 chunks (100 rows by 32) dealt to three workers. */
function broadcastEnvelope(): Envelope<"broadcast"> {
  return {
    v: ENVELOPE_VERSION,
    kind: "broadcast",
    run: "run-1",
    step: 3,
    from: "coordinator",
    body: {
      dtype: "f64",
      params: Float64Array.from({ length: P }, (_, i) => i / 3 - 1),
      begin: 64,
      end: 164,
      rows: Uint32Array.from({ length: 100 }, (_, i) => (i * 37) % 1000),
      chunkRows: 32,
      deals: [
        { worker: "w-b", blocks: [{ first: 2, span: 1 }] },
        { worker: "w-a", blocks: [{ first: 0, span: 2 }] },
        { worker: "w-c", blocks: [{ first: 3, span: 1 }] },
      ],
    },
  };
}

function resultEnvelope(): Envelope<"result"> {
  const sums = Float64Array.from({ length: 2 * P }, (_, i) => Math.sin(i));
  sums[1] = -0;
  return {
    v: ENVELOPE_VERSION,
    kind: "result",
    run: "run-1",
    step: 3,
    from: "w-1",
    body: {
      dtype: "f64",
      blocks: [{ first: 0, span: 2 }, { first: 2, span: 2 }],
      chunks: 3,
      sums,
      stats: Float64Array.of(1.5, 30, 2.25, 31, 0.125, 4),
      computeMs: 1.25,
      dataMs: 0,
    },
  };
}

/** The same envelope with its body's fields replaced, encoded by hand (as a hostile sender would). */
function tampered(e: Envelope, header: Record<string, unknown>, body: Record<string, unknown>) {
  const packr = new Packr({ useRecords: false });
  const decoded = packr.unpack(encodeEnvelope(e)) as Record<string, Record<string, unknown>>;
  return packr.pack({ ...decoded, ...header, body: { ...decoded.body, ...body } });
}

function rejected(d: Decoded, reason: RejectReason, kind?: string) {
  assert.equal(d.ok, false, JSON.stringify(d));
  if (d.ok) return;
  assert.equal(d.reason, reason, d.detail);
  if (kind !== undefined) assert.equal(d.kind, kind);
}

function sameBits(a: ArrayBufferView, b: ArrayBufferView) {
  assert.deepEqual(
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
  );
}

describe("encodeEnvelope and decodeEnvelope", () => {
  it("carry a step request, its floats and row indices bit for bit", () => {
    const e = stepEnvelope();
    const d = decodeEnvelope(encodeEnvelope(e), { paramCount: P });
    assert.ok(d.ok && d.envelope.kind === "step", JSON.stringify(d));
    const got = d.envelope.body;
    assert.ok(got.params instanceof Float32Array);
    sameBits(got.params, e.body.params);
    assert.deepEqual(got.rows, e.body.rows);
    assert.deepEqual({ ...d.envelope, body: null }, { ...e, body: null });
    assert.deepEqual(got.blocks, e.body.blocks);
    assert.equal(got.chunkRows, 32);
  });

  it("carry a broadcast step: its floats, row indices and every worker's blocks", () => {
    const e = broadcastEnvelope();
    const reuse = new DecodeBuffers();
    const bytes = encodeEnvelope(e, new EncodeBuffer());
    const d = decodeEnvelope(bytes, { paramCount: P, reuse });
    assert.ok(d.ok && d.envelope.kind === "broadcast", JSON.stringify(d));
    const got = d.envelope.body;
    assert.ok(got.params instanceof Float64Array);
    sameBits(got.params, e.body.params);
    assert.deepEqual(got.rows, e.body.rows);
    assert.deepEqual(got.deals, e.body.deals);
    assert.deepEqual({ ...d.envelope, body: null }, { ...e, body: null });
    assert.equal(got.params.buffer, reuse.take("params", 0), "decoded into the reused memory");
    bytes.fill(0);
    sameBits(got.params, e.body.params);
    // Full batch: no rows; one worker with several blocks.
    const full: Envelope<"broadcast"> = {
      ...e,
      body: {
        ...e.body,
        rows: null,
        deals: [{ worker: "w-a", blocks: [{ first: 0, span: 2 }, { first: 2, span: 2 }] }],
      },
    };
    const f = decodeEnvelope(encodeEnvelope(full), { paramCount: P });
    assert.ok(f.ok && f.envelope.kind === "broadcast", JSON.stringify(f));
    assert.equal(f.envelope.body.rows, null);
    assert.deepEqual(f.envelope.body.deals, full.body.deals);
  });

  it("carry a result with non-finite sums (a diverging model) and NaN payloads intact", () => {
    const e = resultEnvelope();
    const sums = e.body.sums as Float64Array;
    sums[3] = Infinity;
    new DataView(sums.buffer).setBigUint64(4 * 8, 0x7ff8_dead_beef_0001n, true);
    const d = decodeEnvelope(encodeEnvelope(e), { paramCount: P });
    assert.ok(d.ok && d.envelope.kind === "result", JSON.stringify(d));
    sameBits(d.envelope.body.sums, sums);
    sameBits(d.envelope.body.stats, e.body.stats);
  });

  it("carry a presence record, which has no step", () => {
    const e: Envelope = {
      v: ENVELOPE_VERSION,
      kind: "presence",
      run: "",
      from: "w-7",
      body: { name: "host-a", runtime: "bun 1.4.5", threads: 4, backends: ["js", "wasm"] },
    };
    const d = decodeEnvelope(encodeEnvelope(e));
    assert.ok(d.ok);
    assert.deepEqual(d.envelope, e);
  });

  it("decode into reused memory: the same bits, exact lengths, nothing shared with the message", () => {
    const reuse = new DecodeBuffers();
    const step = stepEnvelope();
    const stepBytes = encodeEnvelope(step);
    const first = decodeEnvelope(stepBytes, { paramCount: P, reuse });
    assert.ok(first.ok && first.envelope.kind === "step");
    sameBits(first.envelope.body.params, step.body.params);
    stepBytes.fill(0);
    sameBits(first.envelope.body.params, step.body.params);
    // A smaller message after it: views of its own length on the same memory.
    const full = stepEnvelope();
    const small: Envelope<"step"> = {
      ...full,
      body: { ...full.body, params: full.body.params.subarray(0, 3) },
    };
    const second = decodeEnvelope(encodeEnvelope(small), { reuse });
    assert.ok(second.ok && second.envelope.kind === "step");
    assert.equal(second.envelope.body.params.length, 3);
    sameBits(second.envelope.body.params, small.body.params);
    assert.equal(second.envelope.body.params.buffer, first.envelope.body.params.buffer);
    assert.deepEqual(second.envelope.body.rows, small.body.rows);
    // A result's vectors go to memory of their own names.
    const result = decodeEnvelope(encodeEnvelope(resultEnvelope()), { paramCount: P, reuse });
    assert.ok(result.ok && result.envelope.kind === "result");
    sameBits(result.envelope.body.sums, resultEnvelope().body.sums);
    sameBits(result.envelope.body.stats, resultEnvelope().body.stats);
    sameBits(second.envelope.body.params, small.body.params);
    // Without reuse, every decoding has memory of its own.
    const a = decodeEnvelope(encodeEnvelope(step), { paramCount: P });
    const b = decodeEnvelope(encodeEnvelope(step), { paramCount: P });
    assert.ok(a.ok && a.envelope.kind === "step" && b.ok && b.envelope.kind === "step");
    assert.notEqual(a.envelope.body.params.buffer, b.envelope.body.params.buffer);
  });

  it("encode into reused memory, which no other message's bytes share", () => {
    const reuse = new EncodeBuffer();
    const first = encodeEnvelope(resultEnvelope(), reuse);
    const other = encodeEnvelope(stepEnvelope());
    const otherCopy = other.slice();
    assert.notEqual(other.buffer, first.buffer);
    const base = resultEnvelope();
    const bigger: Envelope<"result"> = {
      ...base,
      body: {
        ...base.body,
        sums: new Float64Array(4 * P).fill(0.5),
        blocks: [{ first: 0, span: 4 }, { first: 4, span: 4 }],
        chunks: 8,
        stats: new Float64Array(16).fill(1),
      },
    };
    const second = encodeEnvelope(bigger, reuse);
    const third = encodeEnvelope(resultEnvelope(), reuse);
    assert.deepEqual(other, otherCopy, "a message outside the reused memory is left alone");
    assert.equal(third.buffer, second.buffer, "the same memory, message after message");
    const d = decodeEnvelope(third, { paramCount: P });
    assert.ok(d.ok && d.envelope.kind === "result");
    sameBits(d.envelope.body.sums, resultEnvelope().body.sums);
  });

  it("read messages at any byte offset (as they sit in a network buffer)", () => {
    const bytes = encodeEnvelope(resultEnvelope());
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const d = decodeEnvelope(shifted.subarray(3));
    assert.ok(d.ok && d.envelope.kind === "result");
    sameBits(d.envelope.body.sums, resultEnvelope().body.sums);
  });
});

describe("decodeEnvelope rejects, with a reason", () => {
  const step = stepEnvelope();
  const result = resultEnvelope();

  it("another version, an unknown kind, a bad header", () => {
    rejected(decodeEnvelope(tampered(step, { v: ENVELOPE_VERSION + 1 }, {})), "version", "step");
    rejected(decodeEnvelope(tampered(step, { v: 1 }, {})), "version", "step");
    rejected(decodeEnvelope(tampered(step, { kind: "gossip" }, {})), "kind", "gossip");
    rejected(decodeEnvelope(tampered(step, { run: "a.b" }, {})), "not_envelope", "step");
    rejected(decodeEnvelope(tampered(step, { from: "" }, {})), "not_envelope", "step");
    rejected(decodeEnvelope(tampered(step, { step: 0 }, {})), "not_envelope", "step");
    rejected(decodeEnvelope(tampered(step, { step: undefined }, {})), "not_envelope", "step");
    rejected(decodeEnvelope(tampered(result, { run: "" }, {})), "not_envelope", "result");
    rejected(decodeEnvelope(new Packr().pack([1, 2, 3])), "not_envelope");
    rejected(
      decodeEnvelope(new Packr().pack({ v: ENVELOPE_VERSION, kind: "step" })),
      "not_envelope",
      "step",
    );
  });

  it("parameters of the wrong count, dtype, length or value", () => {
    rejected(decodeEnvelope(encodeEnvelope(step), { paramCount: P + 1 }), "shape", "step");
    rejected(decodeEnvelope(tampered(step, {}, { dtype: "f16" })), "shape");
    rejected(decodeEnvelope(tampered(step, {}, { params: new Uint8Array(6) })), "shape");
    rejected(decodeEnvelope(tampered(step, {}, { params: new Uint8Array(0) })), "shape");
    rejected(decodeEnvelope(tampered(step, {}, { params: [1, 2, 3] })), "shape");
    const nan = Float32Array.of(1, NaN, 2);
    rejected(
      decodeEnvelope(tampered(step, {}, { params: new Uint8Array(nan.buffer) })),
      "non_finite",
    );
  });

  it("a batch, rows or blocks that do not fit together", () => {
    rejected(decodeEnvelope(tampered(step, {}, { end: 64 })), "shape");
    rejected(decodeEnvelope(tampered(step, {}, { begin: -1 })), "shape");
    rejected(decodeEnvelope(tampered(step, {}, { rows: new Uint8Array(8) })), "shape");
    const bad: [number, number][][] = [
      [],
      [[1, 2]], // not aligned
      [[0, 3]], // not a power of two
      [[2, 1], [0, 2]], // out of order
      [[0, 2], [1, 1]], // overlapping
      [[4, 1]], // past the 4 chunks of 100 rows by 32
    ];
    for (const blocks of bad) {
      rejected(decodeEnvelope(tampered(step, {}, { blocks })), "shape", "step");
    }
    // An aligned block may reach past the last chunk.
    assert.ok(decodeEnvelope(tampered(step, {}, { blocks: [[0, 8]] })).ok);
  });

  it("broadcasts with a bad header, parameters or batch, as steps", () => {
    const b = broadcastEnvelope();
    rejected(decodeEnvelope(tampered(b, { v: ENVELOPE_VERSION - 1 }, {})), "version", "broadcast");
    rejected(decodeEnvelope(tampered(b, { step: undefined }, {})), "not_envelope", "broadcast");
    rejected(decodeEnvelope(tampered(b, { step: 0 }, {})), "not_envelope", "broadcast");
    rejected(decodeEnvelope(tampered(b, { run: "" }, {})), "not_envelope", "broadcast");
    rejected(decodeEnvelope(tampered(b, { from: "a b" }, {})), "not_envelope", "broadcast");
    rejected(decodeEnvelope(encodeEnvelope(b), { paramCount: P + 1 }), "shape", "broadcast");
    rejected(decodeEnvelope(tampered(b, {}, { dtype: "f16" })), "shape", "broadcast");
    rejected(decodeEnvelope(tampered(b, {}, { params: new Uint8Array(12) })), "shape");
    const nan = Float64Array.of(1, NaN, 2);
    rejected(
      decodeEnvelope(tampered(b, {}, { params: new Uint8Array(nan.buffer) })),
      "non_finite",
      "broadcast",
    );
    rejected(decodeEnvelope(tampered(b, {}, { end: 64 })), "shape", "broadcast");
    rejected(decodeEnvelope(tampered(b, {}, { chunkRows: 0 })), "shape", "broadcast");
    rejected(decodeEnvelope(tampered(b, {}, { rows: new Uint8Array(8) })), "shape", "broadcast");
    rejected(decodeEnvelope(tampered(b, {}, { blocks: [[0, 4]], deals: undefined })), "shape");
  });

  it("broadcasts whose deals are not a list of workers once each, with valid blocks", () => {
    const b = broadcastEnvelope();
    const deal = (worker: unknown, blocks: unknown) => [worker, blocks];
    const bad: unknown[] = [
      undefined,
      null,
      [],
      { "w-a": [[0, 1]] },
      [[0, 1]],
      [deal("w-a", [[0, 1]]), "w-b"],
      [["w-a"]],
      [["w-a", [[0, 1]], "extra"]],
      [deal("", [[0, 1]])],
      [deal("a.b", [[0, 1]])],
      [deal("w*", [[0, 1]])],
      [deal("x".repeat(65), [[0, 1]])],
      [deal(7, [[0, 1]])],
      [deal("w-a", [[0, 1]]), deal("w-a", [[1, 1]])], // a worker twice
      [deal("w-a", [[0, 2]]), deal("w-b", [[1, 1]])], // a block dealt twice
      [deal("w-a", [[0, 4]]), deal("w-b", [[2, 2]])],
      // Five deals for four chunks.
      ["a", "b", "c", "d", "e"].map((w, i) => deal(w, [[Math.min(i, 3), 1]])),
    ];
    // Each worker's blocks are checked as a step's are.
    for (
      const blocks of [
        [],
        null,
        [[1, 2]], // not aligned
        [[0, 3]], // not a power of two
        [[2, 1], [0, 2]], // out of order
        [[0, 2], [1, 1]], // overlapping
        [[4, 1]], // past the 4 chunks of 100 rows by 32
        [[0]],
        [["0", 1]],
      ]
    ) {
      bad.push([deal("w-a", [[3, 1]]), deal("w-b", blocks)]);
    }
    for (const deals of bad) {
      rejected(decodeEnvelope(tampered(b, {}, { deals })), "shape", "broadcast");
    }
    // An aligned block may reach past the last chunk; deals need not be in block order.
    assert.ok(
      decodeEnvelope(tampered(b, {}, { deals: [deal("w-b", [[2, 2]]), deal("w-a", [[0, 2]])] })).ok,
    );
    assert.ok(MAX_DEALS >= 1024, "a broadcast deals to as many workers as a run may have");
    const many = Array.from({ length: MAX_DEALS + 1 }, (_, i) => deal(`w${i}`, [[i, 1]]));
    const wide = tampered(b, {}, { end: 64 + 32 * (MAX_DEALS + 1), rows: null, deals: many });
    rejected(decodeEnvelope(wide), "shape", "broadcast");
    const fits = tampered(b, {}, {
      end: 64 + 32 * MAX_DEALS,
      rows: null,
      deals: many.slice(0, MAX_DEALS),
    });
    assert.ok(decodeEnvelope(fits, { paramCount: P }).ok);
  });

  it("results whose sums or stats do not match the blocks, or timings that are not finite", () => {
    rejected(decodeEnvelope(encodeEnvelope(result), { paramCount: P - 1 }), "shape", "result");
    rejected(decodeEnvelope(tampered(result, {}, { stats: new Uint8Array(8 * 4) })), "shape");
    rejected(decodeEnvelope(tampered(result, {}, { sums: new Uint8Array(8 * 3) })), "shape");
    rejected(decodeEnvelope(tampered(result, {}, { computeMs: Infinity })), "non_finite");
    rejected(decodeEnvelope(tampered(result, {}, { dataMs: -1 })), "shape");
    const stats = Float64Array.of(1, NaN, 1, 2, 1, 2);
    rejected(
      decodeEnvelope(tampered(result, {}, { stats: new Uint8Array(stats.buffer) })),
      "non_finite",
    );
  });

  it("a message larger than the receiver accepts, before reading it", () => {
    const bytes = encodeEnvelope(step);
    rejected(decodeEnvelope(bytes, { maxBytes: bytes.length - 1 }), "oversize");
    assert.ok(decodeEnvelope(bytes, { maxBytes: bytes.length }).ok);
  });

  it("random bytes, never throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const d = decodeEnvelope(bytes);
        assert.ok(!d.ok && REASONS.includes(d.reason), JSON.stringify(d));
      }),
      { numRuns: 2000 },
    );
  });

  it("every truncation of a valid message, never throwing", () => {
    for (const e of [step, result, broadcastEnvelope()]) {
      const bytes = encodeEnvelope(e);
      for (let n = 0; n < bytes.length; n++) {
        rejected(decodeEnvelope(bytes.subarray(0, n)), "not_msgpack");
      }
      rejected(decodeEnvelope(Uint8Array.of(...bytes, 0)), "not_msgpack");
    }
  });

  it("valid messages with bytes changed at random, never throwing", () => {
    const messages = [encodeEnvelope(step), encodeEnvelope(result)];
    messages.push(encodeEnvelope(broadcastEnvelope()));
    const kinds = ["step", "result", "broadcast"];
    fc.assert(
      fc.property(
        fc.nat(2),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (which, changes) => {
          const bytes = messages[which].slice();
          for (const [at, value] of changes) bytes[at % bytes.length] = value;
          const d = decodeEnvelope(bytes, { paramCount: P });
          if (!d.ok) assert.ok(REASONS.includes(d.reason), d.reason);
          else assert.equal(d.envelope.kind, kinds[which]);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("senderOf", () => {
  it("reads the sender of a message of this version, without its body, never throwing", () => {
    const bytes = encodeEnvelope(resultEnvelope());
    assert.equal(senderOf(bytes, bytes.length), "w-1");
    assert.equal(senderOf(bytes, bytes.length - 1), null, "larger than accepted");
    const e = resultEnvelope();
    assert.equal(senderOf(tampered(e, {}, { sums: "not floats" }), 1 << 20), "w-1");
    assert.equal(senderOf(tampered(e, { v: ENVELOPE_VERSION + 1 }, {}), 1 << 20), null);
    assert.equal(senderOf(tampered(e, { from: "a.b" }, {}), 1 << 20), null);
    assert.equal(senderOf(tampered(e, { from: 5 }, {}), 1 << 20), null);
    assert.equal(senderOf(new Packr().pack([1, 2]), 1 << 20), null);
    for (let n = 0; n < bytes.length; n += 7) {
      assert.equal(senderOf(bytes.subarray(0, n), 1e9), null);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        const from = senderOf(junk, 1 << 20);
        assert.ok(from === null || typeof from === "string");
      }),
      { numRuns: 1000 },
    );
  });
});

describe("random valid messages", () => {
  it("come back as they were sent", () => {
    const block = (chunks: number) =>
      fc.integer({ min: 0, max: 5 }).chain((log) =>
        fc.nat(Math.max(0, Math.ceil(chunks / 2 ** log) - 1)).map((i): ChunkBlock => ({
          first: i * 2 ** log,
          span: 2 ** log,
        }))
      );
    const message = fc.record({
      p: fc.integer({ min: 1, max: 50 }),
      chunks: fc.integer({ min: 1, max: 40 }),
      dtype: fc.constantFrom("f32" as const, "f64" as const),
    }).chain(({ p, chunks, dtype }) =>
      fc.tuple(
        fc.constant({ p, chunks, dtype }),
        block(chunks),
        fc.float64Array({ minLength: p * 1, maxLength: p * 1 }),
        fc.float64Array({ noNaN: true, noDefaultInfinity: true, minLength: p, maxLength: p }),
      )
    );
    fc.assert(
      fc.property(message, ([{ p, chunks, dtype }, b, sums, params]) => {
        const as = (a: Float64Array) => dtype === "f32" ? Float32Array.from(a) : a;
        const f32Params = as(params);
        if (!f32Params.every(Number.isFinite)) return; // f64 values beyond the f32 range
        const stats = Float64Array.from(
          { length: 2 * Math.min(b.span, chunks - b.first) },
          (_, i) => i % 2 ? i : i / 7,
        );
        const res: Envelope = {
          v: ENVELOPE_VERSION,
          kind: "result",
          run: "r",
          step: 1,
          from: "w",
          body: { dtype, blocks: [b], chunks, sums: as(sums), stats, computeMs: 1, dataMs: 2 },
        };
        const d = decodeEnvelope(encodeEnvelope(res), { paramCount: p });
        assert.ok(d.ok && d.envelope.kind === "result", JSON.stringify(d));
        sameBits(d.envelope.body.sums, res.body.sums);
        const req: Envelope = {
          v: ENVELOPE_VERSION,
          kind: "step",
          run: "r",
          step: 9,
          from: "c",
          body: {
            dtype,
            params: f32Params,
            begin: 0,
            end: chunks * 8,
            rows: null,
            chunkRows: 8,
            blocks: [b],
          },
        };
        const q = decodeEnvelope(encodeEnvelope(req), { paramCount: p });
        assert.ok(q.ok && q.envelope.kind === "step", JSON.stringify(q));
        sameBits(q.envelope.body.params, f32Params);
        assert.equal(q.envelope.body.rows, null);
      }),
      { numRuns: 300 },
    );
  });
});

describe("subject", () => {
  it("builds shardnet.v1 subjects and refuses tokens that would change their meaning", () => {
    assert.equal(subject("run", "r-1", "step"), "shardnet.v1.run.r-1.step");
    for (const bad of ["", "a.b", "*", ">", "a b", "x".repeat(65)]) {
      assert.throws(() => subject("run", bad));
    }
  });
});
