import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { deal } from "../src/engines/cluster/assignment.ts";

describe("deal", () => {
  it("covers every chunk once with aligned blocks, at most four per worker on average", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 2048 }),
      fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 16 }),
      (count, threads) => {
        const members = threads.map((t, i) => ({ id: `w${i}`, threads: t }));
        const dealt = deal(count, members);
        const owner = new Array<number>(count).fill(-1);
        let blocks = 0;
        members.forEach((m, i) => {
          for (const b of dealt.get(m.id)!) {
            blocks++;
            assert.equal(b.first % b.span, 0, `block ${b.first}+${b.span} is not aligned`);
            for (let c = b.first; c < Math.min(count, b.first + b.span); c++) {
              assert.equal(owner[c], -1, `chunk ${c} dealt twice`);
              owner[c] = i;
            }
          }
        });
        assert.ok(owner.every((o) => o >= 0), "a chunk was not dealt");
        // Each block is one parameter vector on the wire: the average is what bounds bytes.
        assert.ok(
          blocks <= 4 * members.length,
          `${blocks} blocks for ${members.length} workers and ${count} chunks`,
        );
      },
    ));
  });

  it("gives two equal workers one half each of a power-of-two batch", () => {
    const dealt = deal(64, [{ id: "a", threads: 1 }, { id: "b", threads: 1 }]);
    assert.deepEqual(dealt.get("a"), [{ first: 0, span: 32 }]);
    assert.deepEqual(dealt.get("b"), [{ first: 32, span: 32 }]);
  });

  it("weighs shares by threads", () => {
    const dealt = deal(64, [{ id: "a", threads: 3 }, { id: "b", threads: 1 }]);
    const size = (id: string) => dealt.get(id)!.reduce((n, b) => n + b.span, 0);
    assert.equal(size("a"), 48);
    assert.equal(size("b"), 16);
  });
});
