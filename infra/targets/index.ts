/**
 * The target registry: `clawstack:target` → its definition. Adding a target is one folder under
 * infra/targets/ and one entry here; the spec, the plan, docs checks and the conformance suite all
 * read this list.
 */
import { awsTarget } from './aws/target.ts';
import { kubernetesTarget } from './kubernetes/target.ts';
import { dockerTarget } from './docker/target.ts';
import type { TargetDefinition } from './types.ts';

export const TARGETS = {
  aws: awsTarget,
  kubernetes: kubernetesTarget,
  docker: dockerTarget,
} satisfies Record<string, TargetDefinition<unknown>>;

export type TargetName = keyof typeof TARGETS;
export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

export type { DeploymentSpec, TargetDefinition, TargetResult, TierSummary } from './types.ts';
