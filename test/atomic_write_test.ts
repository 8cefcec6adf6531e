import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { temporaryPath, writeFileAtomic } from "../src/runtime/atomic_write.ts";

const dir = mkdtempSync(join(tmpdir(), "shardnet-atomic-"));

describe("writeFileAtomic", () => {
  it("replaces the file and leaves no temporary file", () => {
    const path = join(dir, "a.json");
    writeFileAtomic(path, "one");
    writeFileAtomic(path, new TextEncoder().encode("two"));
    assert.equal(readFileSync(path, "utf8"), "two");
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith("a.json")), ["a.json"]);
  });

  it("removes the temporary files of ended processes only", () => {
    const path = join(dir, "b.ckpt");
    const ended = spawnSync(process.execPath, ["--version"]).pid!;
    writeFileSync(temporaryPath(path, ended), "stale");
    writeFileSync(temporaryPath(path, process.pid), "ours, mid-write");
    writeFileSync(`${path}.notapid.tmp`, "not a temporary file of ours");
    writeFileAtomic(path, "new");
    assert.ok(!existsSync(temporaryPath(path, ended)));
    assert.ok(existsSync(`${path}.notapid.tmp`));
    // Our own pid's file is the one being written, so it is gone after the rename.
    assert.ok(!existsSync(temporaryPath(path, process.pid)));
  });

  it("names the user's path, never the temporary one", () => {
    const path = join(dir, "missing", "model.json");
    assert.throws(() => writeFileAtomic(path, "x"), (e: Error) => {
      assert.equal(e.message, `cannot write ${path}: no such directory`);
      return true;
    });
  });
});
