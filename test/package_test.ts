import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRuntime } from "../src/runtime/runtimes.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "shardnet-package-"));

/** Runs a command to completion; on a loaded machine npm install alone took a minute. */
function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, `${command} ${args.join(" ")}: ${r.error ?? ""}${r.stderr}`);
  return r.stdout;
}

const MAIN = `import { evaluate, generate, train } from "shardnet";
const data = generate("xor", 512, 4, 1);
const { model, history } = await train(data, { epochs: 20, hidden: 8, workers: 2 });
console.log(JSON.stringify({ epochs: history.length, accuracy: evaluate(model, data).accuracy }));
`;

describe("the package, used from another folder by its name", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "packs JavaScript and types, installs, and trains on Deno and Bun",
    { timeout: 900_000 },
    () => {
      // npm pack runs the build (prepack): dist/ is compiled from src/, the only source.
      run("npm", ["pack", "--silent", "--pack-destination", dir], ROOT);
      const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
      const listing = run("tar", ["-tzf", join(dir, tarball)], dir);
      assert.match(listing, /^package\/dist\/mod\.js$/m);
      assert.match(listing, /^package\/dist\/mod\.d\.ts$/m);
      assert.match(listing, /^package\/dist\/engines\/threads\/gradient_worker\.js$/m);
      assert.doesNotMatch(listing, /\.ts$(?<!\.d\.ts)/m, "no TypeScript source in the package");
      const app = join(dir, "app");
      run("mkdir", [app], dir);
      writeFileSync(join(app, "package.json"), '{"name":"app","private":true,"type":"module"}\n');
      run(
        "npm",
        ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, tarball)],
        app,
      );
      writeFileSync(join(app, "main.ts"), MAIN);
      const deno = findRuntime("deno", ROOT)!;
      const bun = findRuntime("bun", ROOT)!;
      run(deno, ["check", "main.ts"], app);
      const fromDeno = JSON.parse(run(deno, ["run", "-A", "main.ts"], app));
      const fromBun = JSON.parse(run(bun, ["main.ts"], app));
      assert.equal(fromDeno.epochs, 20);
      assert.ok(fromDeno.accuracy > 0.5, `accuracy ${fromDeno.accuracy}`);
      assert.deepEqual(fromBun, fromDeno);
    },
  );
});
