import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import wabtInit from "wabt";
import { assemble, BIN_PATH, binModuleText } from "../scripts/build_wasm.ts";
import { PLAIN_WASM_BASE64, RELAXED_WASM_BASE64 } from "../src/kernels/wasm/kernels_bin.ts";

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

describe("wasm kernels build", () => {
  it("the committed binaries are what src/kernels/wasm/gen.ts assembles to", async () => {
    const relaxed = await assemble(true);
    const plain = await assemble(false);
    const stale = "stale: run `deno run -A scripts/build_wasm.ts` and commit kernels_bin.ts";
    assert.deepEqual(decode(RELAXED_WASM_BASE64), relaxed, `relaxed binary ${stale}`);
    assert.deepEqual(decode(PLAIN_WASM_BASE64), plain, `plain binary ${stale}`);
    assert.equal(readFileSync(BIN_PATH, "utf8"), binModuleText(relaxed, plain), stale);
  });

  it("both builds validate here, and only the relaxed one uses relaxed SIMD", async () => {
    const wabt = await wabtInit();
    const features = { simd: true, relaxed_simd: true, threads: true, mutable_globals: true };
    const text = (b64: string) => {
      const bytes = decode(b64);
      assert.ok(WebAssembly.validate(bytes));
      const mod = wabt.readWasm(bytes, { readDebugNames: false, ...features });
      try {
        return mod.toText({});
      } finally {
        mod.destroy();
      }
    };
    const relaxed = text(RELAXED_WASM_BASE64);
    assert.match(relaxed, /f32x4\.relaxed_madd/);
    assert.match(relaxed, /f64x2\.relaxed_madd/);
    assert.doesNotMatch(text(PLAIN_WASM_BASE64), /relaxed/);
  });
});
