import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Floats } from "../src/dtype.ts";
import { findBlasLibrary } from "../src/kernels/blas.ts";
import { jsKernels } from "../src/kernels/js.ts";
import { kernelIdentity } from "../src/kernels/kernel_identity.ts";
import type { Kernels } from "../src/kernels/kernels.ts";
import type { BackendName } from "../src/kernels/select.ts";
import type { WasmVariant } from "../src/kernels/wasm.ts";
import { currentRuntime, type RuntimeKind } from "../src/runtime/runtimes.ts";
import { commandLine, otherRuntime } from "./run_cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Child processes start a runtime and compile the kernels: seconds on a busy machine. */
const SPAWN_TIMEOUT_MS = 60_000;
const blasMissing = findBlasLibrary() === null
  ? "OpenBLAS is not installed (Debian: libopenblas0-pthread)"
  : false;

const COMBINATIONS: [BackendName, WasmVariant | null][] = [
  ["js", null],
  ["wasm", "relaxed"],
  ["wasm", "plain"],
  ["blas", "relaxed"],
  ["blas", "plain"],
];

/** `kernelIdentity` of each combination, computed by a fresh process of `runtime`. */
function childHashes(
  runtime: RuntimeKind,
  combinations: [BackendName, WasmVariant | null][],
): Promise<string[]> {
  const specs = combinations.map(([b, v]) => `${b}:${v ?? "none"}`);
  const [command, ...args] = commandLine(runtime, "test/kernel_identity_child.ts", specs);
  const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => stdout += d);
  child.stderr.on("data", (d) => stderr += d);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), SPAWN_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${runtime} exited ${code}: ${stderr}`));
      else resolve(stdout.trim().split("\n"));
    });
  });
}

/** Flips the lowest mantissa bit of a[i] (the low word of a float64 on a little-endian host). */
function flipLowBit(a: Floats, i: number): void {
  new Uint32Array(a.buffer, a.byteOffset + i * a.BYTES_PER_ELEMENT, 1)[0] ^= 1;
}

/** For each kernel, which argument is an output the probe hashes, and the element to change. */
const OUTPUTS: [keyof Kernels, (args: unknown[]) => [Floats, number]][] = [
  ["hiddenForward", (a) => [a[7] as Floats, 0]],
  ["outputLogits", (a) => [a[5] as Floats, 0]],
  ["outputLoss", (a) => [a[0] as Floats, 0]],
  ["outputBackward", (a) => [a[5] as Floats, 0]],
  ["weightGradient", (a) => [a[6] as Floats, 0]],
  ["reduceTree", (a) => [a[0] as Floats, a[3] as number]],
  ["accumulate", (a) => [a[0] as Floats, a[1] as number]],
];

describe("kernelIdentity", () => {
  for (const [backend, variant] of COMBINATIONS) {
    const skip = backend === "blas" ? blasMissing : false;
    it(`${[backend, variant].filter(Boolean).join(" ")}: 16 hex digits, the same on every call`, {
      skip,
    }, async () => {
      const first = await kernelIdentity(backend, variant);
      assert.match(first, /^[0-9a-f]{16}$/);
      assert.equal(await kernelIdentity(backend, variant), first);
      const f32 = await kernelIdentity(backend, variant, "f32");
      const f64 = await kernelIdentity(backend, variant, "f64");
      assert.equal(await kernelIdentity(backend, variant, "f32"), f32);
      assert.notEqual(f32, f64);
      assert.notEqual(f32, first);
    });
  }

  it("changes when any one kernel changes one bit of one output", async () => {
    const reference = await kernelIdentity("js", null, "f32");
    const table = jsKernels as unknown as Record<string, (...args: unknown[]) => void>;
    for (const [name, output] of OUTPUTS) {
      const original = table[name];
      let calls = 0;
      table[name] = (...args: unknown[]) => {
        original(...args);
        if (++calls === 1) flipLowBit(...output(args));
      };
      try {
        assert.notEqual(await kernelIdentity("js", null, "f32"), reference, name);
      } finally {
        table[name] = original;
      }
    }
    assert.equal(await kernelIdentity("js", null, "f32"), reference);
  });

  it("tells the backends apart", { skip: blasMissing }, async () => {
    const hashes = await Promise.all([
      kernelIdentity("js", null),
      kernelIdentity("wasm", "plain"),
      kernelIdentity("blas", "plain"),
    ]);
    assert.equal(new Set(hashes).size, 3, hashes.join(" "));
  });

  for (const dtype of ["f32", "f64"] as const) {
    const fuses = currentRuntime() === "deno";
    it(
      `${dtype}: relaxed and plain wasm ${
        fuses ? "differ on Deno, where V8 fuses relaxed_madd" : "agree on Bun, where " +
          "JavaScriptCore does not fuse relaxed_madd"
      }`,
      async () => {
        const relaxed = await kernelIdentity("wasm", "relaxed", dtype);
        const plain = await kernelIdentity("wasm", "plain", dtype);
        if (fuses) assert.notEqual(relaxed, plain);
        else assert.equal(relaxed, plain);
      },
    );
  }

  it("is the same in a fresh process of this runtime", { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const combinations = COMBINATIONS.filter(([b]) => b !== "blas" || !blasMissing);
    const mine = await Promise.all(combinations.map(([b, v]) => kernelIdentity(b, v)));
    assert.deepEqual(await childHashes(currentRuntime(), combinations), mine);
  });

  it(
    `plain wasm is the same under ${otherRuntime()}`,
    { timeout: SPAWN_TIMEOUT_MS },
    async () => {
      const [theirs] = await childHashes(otherRuntime(), [["wasm", "plain"]]);
      assert.equal(theirs, await kernelIdentity("wasm", "plain"));
    },
  );

  it(
    `blas (plain light kernels) is the same under ${otherRuntime()}`,
    { timeout: SPAWN_TIMEOUT_MS, skip: blasMissing },
    async () => {
      const [theirs] = await childHashes(otherRuntime(), [["blas", "plain"]]);
      assert.equal(theirs, await kernelIdentity("blas", "plain"));
    },
  );
});
