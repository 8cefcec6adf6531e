/**
 * Prints `kernelIdentity` of each `backend:variant` argument ("wasm:plain", "js:none"), one hash
 * per line, for tests that compare a fresh process or the other runtime with their own.
 */
import process from "node:process";
import { kernelIdentity } from "../src/kernels/kernel_identity.ts";
import type { BackendName } from "../src/kernels/select.ts";
import type { WasmVariant } from "../src/kernels/wasm.ts";

for (const arg of process.argv.slice(2)) {
  const [backend, variant] = arg.split(":");
  const hash = await kernelIdentity(
    backend as BackendName,
    variant === "none" ? null : variant as WasmVariant,
  );
  process.stdout.write(`${hash}\n`);
}
