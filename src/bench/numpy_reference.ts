import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { environmentCopy } from "../runtime/process.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/numpy_epoch.py", import.meta.url));

/**
 * Set on some processors here because older OpenBLAS builds misbehave on them; a current NumPy
 * runs slower kernels with them, and so does the OpenBLAS that the blas backend loads (the
 * transposed GEMM of the weight gradient, on AMD EPYC; see docs/performance.md). The reference
 * and the measured children run without both alike: both sides of the comparison use OpenBLAS's
 * own CPU detection.
 */
export const OPENBLAS_OVERRIDES = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

/** This process's environment without the OpenBLAS overrides: what every measurement runs in. */
export function benchEnvironment(): Record<string, string | undefined> {
  const env = environmentCopy();
  for (const name of OPENBLAS_OVERRIDES) delete env[name];
  return env;
}

/** What `scripts/numpy_epoch.py` measured. */
export interface NumpyTiming {
  readonly numpy: string;
  readonly blas: string;
  /** BLAS threads, when threadpoolctl can tell. */
  readonly threads: number | null;
  readonly epochMs: readonly number[];
}

/** The reference's size: one full-batch epoch of m × n rows, h hidden units. */
export interface NumpyShape {
  readonly samples: number;
  readonly features: number;
  readonly hidden: number;
  readonly dtype: "f32" | "f64";
  readonly warmup: number;
  readonly repeats: number;
}

/**
 * Times the same epoch in NumPy with `python3`; resolves to null when python3 or NumPy is missing
 * (the reference is optional).
 *
 * @example
 * ```ts
 * const t = await numpyEpoch({ samples: 32768, features: 256, hidden: 64, dtype: "f32", warmup: 1, repeats: 5 });
 * ```
 */
export function numpyEpoch(shape: NumpyShape): Promise<NumpyTiming | null> {
  const env = benchEnvironment();
  const args = [
    SCRIPT,
    ...["--samples", String(shape.samples), "--features", String(shape.features)],
    ...["--hidden", String(shape.hidden), "--dtype", shape.dtype],
    ...["--warmup", String(shape.warmup), "--repeats", String(shape.repeats)],
  ];
  return new Promise((resolve) => {
    const child = spawn("python3", args, { env, stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (d) => stdout += d);
    child.on("error", () => resolve(null));
    child.on("close", (code) => {
      resolve(code === 0 ? JSON.parse(stdout) as NumpyTiming : null);
    });
  });
}
