import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { evaluate, generate, readModelFile } from "../src/mod.ts";
import { scriptCommandLine } from "../src/runtime/runtimes.ts";
import { currentRuntime } from "../src/runtime/process.ts";

const MOD = new URL("../src/mod.ts", import.meta.url);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "shardnet-mod-"));

/** The code of the first `@example` in `src/mod.ts`'s JSDoc, as a reader would copy it. */
function moduleExample(): string {
  const source = readFileSync(MOD, "utf8");
  const block = /@example\n \* ```ts\n((?: \*.*\n)*?) \* ```/.exec(source);
  assert.ok(block, "src/mod.ts has an @example with a ts block");
  return block[1].split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n");
}

describe("src/mod.ts used as a library, exactly as its doc example says", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("trains, prints the accuracy and writes a model file that reads back", () => {
    const example = moduleExample();
    assert.match(example, /from "\.\/src\/mod\.ts"/);
    // The example imports from the repository's root; here it runs from a folder of its own.
    writeFileSync(join(dir, "example.ts"), example.replace('"./src/mod.ts"', `"${MOD.href}"`));
    const [command, ...args] = scriptCommandLine("example.ts", []);
    // Deno finds the project's import map (npm packages) through its configuration file, and
    // type-checks the example: a call that no longer fits the API fails here.
    const config = currentRuntime() === "deno"
      ? ["--check", "--config", join(ROOT, "deno.json")]
      : [];
    const r = spawnSync(command, [...args.slice(0, -1), ...config, ...args.slice(-1)], {
      cwd: dir,
      encoding: "utf8",
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const printed = r.stdout.trim();
    assert.match(printed, /^0\.\d+$|^1$/, r.stdout);
    const accuracy = Number(printed);
    assert.ok(accuracy >= 0.9, `xor, 4 features, 200 epochs: accuracy ${accuracy}`);
    const file = join(dir, "model.json");
    assert.ok(existsSync(file), "the example writes model.json where it runs");
    const model = readModelFile(file);
    assert.equal(model.hidden, 16);
    assert.equal(evaluate(model, generate("xor", 4096, 4, 1)).accuracy, accuracy);
  });
});
