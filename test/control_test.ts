import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  awaitDone,
  claim,
  Control,
  countDone,
  markFailed,
  publishStep,
  publishStop,
  reached,
  readPublished,
  RunAborted,
} from "../src/engines/threads/control.ts";
import { CONTROL_WORDS } from "../src/core/workspace.ts";

const words = () => new Int32Array(new SharedArrayBuffer(4 * (CONTROL_WORDS + 4)));
const MAX = 2 ** 31 - 1;

describe("control words", () => {
  it("reached compares counters that wrap around 2^32", () => {
    assert.ok(reached(5, 5));
    assert.ok(reached(6, 5));
    assert.ok(!reached(4, 5));
    // A counter that passed INT32_MAX is past a target just below it, and short of one above.
    assert.ok(reached((MAX + 3) | 0, MAX - 1));
    assert.ok(!reached(MAX - 1, (MAX + 3) | 0));
  });

  it("claims each ticket of a step's range once, then nothing", () => {
    const c = words();
    c[Control.NEXT_CHUNK] = 100;
    const got = [];
    for (let i = 0; i < 6; i++) got.push(claim(c, Control.NEXT_CHUNK, 100, 4));
    assert.deepEqual(got, [0, 1, 2, 3, -1, -1]);
    assert.equal(c[Control.NEXT_CHUNK], 104);
  });

  it("claims across the wrap of the ticket counter", () => {
    const c = words();
    const base = MAX - 1;
    c[Control.NEXT_SLICE] = base;
    const got = [];
    for (let i = 0; i < 5; i++) got.push(claim(c, Control.NEXT_SLICE, base, 4));
    assert.deepEqual(got, [0, 1, 2, 3, -1]);
    assert.equal(c[Control.NEXT_SLICE], (base + 4) | 0);
  });

  it("a worker that wakes after its step is over claims nothing from the next one", () => {
    const c = words();
    c[Control.NEXT_CHUNK] = 10;
    // Step 1 had tickets [0, 10): all claimed. Step 2 starts at 10; a late worker still reading
    // step 1's base claims nothing, and step 2's tickets stay whole.
    assert.equal(claim(c, Control.NEXT_CHUNK, 0, 10), -1);
    assert.equal(claim(c, Control.NEXT_CHUNK, 10, 3), 0);
  });

  it("countDone wakes at the target; awaitDone returns once it is reached", () => {
    const c = words();
    c[Control.CHUNKS_DONE] = MAX;
    const target = (MAX + 2) | 0;
    countDone(c, Control.CHUNKS_DONE, target);
    countDone(c, Control.CHUNKS_DONE, target);
    assert.equal(c[Control.CHUNKS_DONE], target);
    awaitDone(c, Control.CHUNKS_DONE, target);
  });

  it("awaitDone gives up with RunAborted once a worker failed", () => {
    const c = words();
    markFailed(c, 2);
    assert.equal(c[Control.FAILED], 3);
    assert.throws(() => awaitDone(c, Control.CHUNKS_DONE, 1), RunAborted);
    markFailed(c, 0);
    assert.equal(c[Control.FAILED], 3, "the first failure stays recorded");
  });

  it("publishes a step under an even generation, read back whole", () => {
    const c = words();
    publishStep(c, { begin: 7, end: 99, shuffled: true }, 40, 12);
    const generation = c[Control.GENERATION];
    assert.equal(generation % 2, 0);
    assert.deepEqual(readPublished(c, generation), {
      command: 1,
      batch: { begin: 7, end: 99, shuffled: true },
      chunkBase: 40,
      sliceBase: 12,
    });
    publishStop(c);
    assert.equal(readPublished(c, generation), null, "a newer command replaced it");
    assert.equal(readPublished(c, c[Control.GENERATION])?.command, 2);
  });
});
