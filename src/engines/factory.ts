import type { StepEngine } from "../core/step_engine.ts";
import type { WorkspaceViews } from "../core/workspace.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { BackendName } from "../kernels/select.ts";
import type { WasmVariant } from "../kernels/wasm.ts";
import type { ClusterOptions } from "./cluster/cluster_engine.ts";
import { LocalEngine } from "./local/local_engine.ts";
import { ThreadEngine } from "./threads/thread_engine.ts";

/** Which engine computes the steps, and its own settings. */
export type EngineChoice =
  | { readonly kind: "local" }
  | { readonly kind: "threads"; readonly workers: number }
  | { readonly kind: "cluster"; readonly cluster: ClusterOptions };

/** What every engine is started with. */
export interface EngineContext {
  /** The run's workspace, planned with `scratchSlots(choice)` computing threads. */
  readonly workspace: WorkspaceViews;
  /** The coordinator's kernels, bound to the workspace. */
  readonly kernels: Kernels;
  readonly backend: BackendName;
  /** The wasm build the kernels run (null for the js backend): every computing thread runs it. */
  readonly kernelVariant: WasmVariant | null;
  /** Called with one line for each event a person watching the run should know of. */
  readonly onLog?: (line: string) => void;
  /** Aborts the engine's start-up. */
  readonly signal?: AbortSignal;
}

/** The computing threads that share the coordinator's workspace under `choice`. */
export function scratchSlots(choice: EngineChoice): number {
  return choice.kind === "threads" ? choice.workers : 0;
}

/**
 * Starts the engine `choice` names.
 *
 * @example
 * ```ts
 * const engine = await createEngine({ kind: "threads", workers: 2 }, { workspace, kernels, backend });
 * ```
 */
export function createEngine(
  choice: EngineChoice,
  context: EngineContext,
): Promise<StepEngine> | StepEngine {
  switch (choice.kind) {
    case "local":
      return new LocalEngine(context.kernels, context.workspace);
    case "threads":
      return ThreadEngine.start({
        workspace: context.workspace,
        workers: choice.workers,
        backend: context.backend,
        kernelVariant: context.kernelVariant,
        ...(context.signal ? { signal: context.signal } : {}),
      });
    case "cluster":
      // Loaded on demand: the NATS client is most of what a training thread would otherwise load
      // at start (a sweep starts a thread per core, each of which only ever trains locally).
      return import("./cluster/cluster_engine.ts").then(({ ClusterEngine }) =>
        ClusterEngine.start(choice.cluster, context)
      );
  }
}
