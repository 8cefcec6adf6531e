import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { findBlasLibrary } from "../src/kernels/blas.ts";
import { findRuntime } from "../src/runtime/runtimes.ts";
import { runCli } from "./run_cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;

describe("backend choice", () => {
  it("auto falls back to wasm with a note on Deno without --allow-ffi", () => {
    const deno = findRuntime("deno", ROOT)!;
    const r = spawnSync(deno, [
      ...["run", "--allow-read", "--allow-env", "--allow-sys", "scripts/train.ts"],
      ...["--epochs", "2", "--workers", "0", "--log-format", "json"],
    ], { cwd: ROOT, encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
    assert.equal(r.status, 0, r.stderr);
    const done = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(done.backend, "wasm");
    assert.equal(
      r.stderr,
      findBlasLibrary() !== null
        ? "note: no FFI access (Deno without --allow-ffi) for OpenBLAS: using the wasm backend\n"
        : "note: OpenBLAS not found (Debian: apt-get install libopenblas0-pthread): using the " +
          "wasm backend\n",
    );
    const blas = spawnSync(deno, [
      ...["run", "--allow-read", "--allow-env", "--allow-sys", "scripts/train.ts"],
      ...["--epochs", "2", "--workers", "0", "--backend", "blas"],
    ], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    assert.equal(blas.status, 2, blas.stderr);
    assert.match(
      blas.stderr,
      /^train: the blas backend calls OpenBLAS through FFI, .* --allow-ffi/,
    );
    assert.equal(blas.stderr.trim().split("\n").length, 1);
  });

  it("a bad SHARDNET_BLAS_LIB is one line naming it", async () => {
    for (const workers of ["0", "2"]) {
      const r = await runCli("train", ["--epochs", "2", "--workers", workers], {
        SHARDNET_BLAS_LIB: "/no/such/libopenblas.so",
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^train: SHARDNET_BLAS_LIB=\/no\/such\/libopenblas\.so: cannot load OpenBLAS from it \(.*\); set it to the libopenblas shared library, or unset it to search the usual places\n$/,
      );
    }
  });
});
