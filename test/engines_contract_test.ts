import { describe } from "node:test";
import { createEngine } from "../src/engines/factory.ts";
import { engineContract } from "./engine_contract.ts";

describe("StepEngine contract: local", () => {
  engineContract(
    (workspace, kernels) =>
      Promise.resolve(
        createEngine({ kind: "local" }, { workspace, kernels, backend: "js", kernelVariant: null }),
      ),
    0,
  );
});

for (const workers of [1, 2, 3]) {
  describe(`StepEngine contract: ${workers} worker thread${workers === 1 ? "" : "s"}`, () => {
    engineContract(
      (workspace, kernels) =>
        Promise.resolve(
          createEngine({ kind: "threads", workers }, {
            workspace,
            kernels,
            backend: "js",
            kernelVariant: null,
          }),
        ),
      workers,
    );
  });
}
