/**
 * An InferenceContext for tests of one task module: the task's FP32 models from models/manifest.json
 * (sha256-checked) in plain onnxruntime-node sessions, one request at a time, with no engine and no
 * batching. It is built on scripts/lib/model-eval.ts's `ortContext`, and it also checks that the
 * manifest's tensor names match the model files and counts calls per role.
 */
import type { InferenceContext, TensorMap } from '../../../app/src/modalities/types.ts';
import type { ModelEntry } from '../../../app/src/models/manifest.ts';
import { MODELS_DIR, ortContext, readManifest, verifiedPath } from '../../../scripts/lib/model-eval.ts';

export { MODELS_DIR };

export interface DirectContext extends InferenceContext {
  /** Calls of `infer` so far, per role. */
  calls: Record<string, number>;
  release(): Promise<void>;
}

/** Loads the task's model per role (FP32 where both precisions exist). */
export async function directContext(task: string): Promise<DirectContext> {
  const byRole = new Map<string, ModelEntry>();
  for (const entry of readManifest().models.filter((m) => m.task === task)) {
    if (!byRole.has(entry.role) || entry.precision === 'fp32') byRole.set(entry.role, entry);
  }
  if (byRole.size === 0) throw new Error(`manifest has no model for task ${task}`);
  const ctx = await ortContext(
    await Promise.all(
      [...byRole.values()].map(async (entry) => ({ entry, path: await verifiedPath(entry) })),
    ),
  );
  for (const [role, entry] of byRole) {
    const session = ctx.sessions.get(role)!;
    const names = (specs: { name: string }[]) => specs.map((s) => s.name).join(',');
    if (
      names(entry.inputs) !== session.inputNames.join(',') ||
      names(entry.outputs) !== session.outputNames.join(',')
    ) {
      throw new Error(
        `${entry.name}: manifest tensors do not match the model's (${session.inputNames} -> ${session.outputNames})`,
      );
    }
  }
  const calls: Record<string, number> = {};
  return {
    ...ctx,
    calls,
    infer(role: string, feeds: TensorMap) {
      calls[role] = (calls[role] ?? 0) + 1;
      return ctx.infer(role, feeds);
    },
  };
}
