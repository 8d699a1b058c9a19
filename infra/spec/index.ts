/**
 * Stack config → {@link DeploymentSpec}: the only place the program reads `pulumi.Config`.
 *
 * `clawstack:<key>` holds the common keys (./common.ts); `clawstack:<target>` is the chosen target's
 * section, parsed by the target itself (infra/targets/<target>/spec.ts). Every key has one schema, a
 * default and an "allowed" text that a {@link StackConfigError} repeats, so a bad stack file fails
 * before any resource exists, naming the key, the bad value and what would have been accepted.
 */
import * as pulumi from '@pulumi/pulumi';
import { TARGETS, TARGET_NAMES } from '../targets/index.ts';
import type { DeploymentSpec, TargetDefinition, TargetName } from '../targets/index.ts';
import { COMMON_KEYS, parseCommon } from './common.ts';
import { jsonText, PROJECT, sectionObject, StackConfigError } from './schema.ts';

export { StackConfigError, isCidr, PROJECT } from './schema.ts';
export type { DeploymentSpec } from '../targets/index.ts';

/** Every key a stack file may set, fully qualified (`clawstack:tier`, `clawstack:aws.instanceTypes`). */
export const CONFIG_KEYS: string[] = [
  `${PROJECT}:target`,
  ...Object.keys(COMMON_KEYS).map((k) => `${PROJECT}:${k}`),
  ...TARGET_NAMES.flatMap((t) => Object.keys(TARGETS[t].keys).map((k) => `${PROJECT}:${t}.${k}`)),
];

/**
 * Builds the spec from raw stack config: keys without the `clawstack:` prefix, values as the Pulumi
 * CLI passes them (strings; structured values as JSON text). `secretKeys` names the keys set with
 * `--secret`. Pure; throws StackConfigError.
 */
export function parseSpec(
  raw: Record<string, unknown>,
  stack: string,
  secretKeys: ReadonlySet<string> = new Set(),
): DeploymentSpec {
  const targetRaw = jsonText(raw.target ?? 'aws');
  if (typeof targetRaw !== 'string' || !(TARGET_NAMES as string[]).includes(targetRaw))
    throw new StackConfigError(`${PROJECT}:target`, raw.target, TARGET_NAMES.join(' | '));
  const target = targetRaw as TargetName;
  const def = TARGETS[target];
  const commonRaw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'target' || key === target) continue;
    if ((TARGET_NAMES as string[]).includes(key)) {
      // Pulumi.yaml declares every section with the default {} (a declared key without a default
      // would be required in every stack); an empty section sets nothing, so it is no error.
      if (Object.keys(sectionObject(`${PROJECT}:${key}`, value)).length === 0) continue;
      throw new StackConfigError(
        `${PROJECT}:${key}`,
        value,
        `only the section of the chosen target (clawstack:${target})`,
        `clawstack:target is ${target}`,
      );
    }
    commonRaw[key] = value;
  }
  const common = parseCommon(commonRaw, { stack, target, defaults: def.defaults, secretKeys });
  const section = sectionObject(`${PROJECT}:${target}`, raw[target]);
  return { ...common, section: def.parse(section, common, secretKeys.has(target)) };
}

/**
 * Whether a config key was set with `--secret`. The SDK's runtime exports this (its own Config class
 * uses it to warn on plain reads of secrets) but leaves it out of the type declarations.
 */
function isConfigSecret(key: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  if (!runtime.isConfigSecret) throw new Error('@pulumi/pulumi no longer exports runtime.isConfigSecret');
  return runtime.isConfigSecret(key);
}

/** Reads this stack's `clawstack:*` config (remembering which keys are secret) and builds the spec. */
export function loadSpec(): DeploymentSpec {
  const prefix = `${pulumi.getProject()}:`;
  const raw: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!key.startsWith(prefix)) continue;
    raw[key.slice(prefix.length)] = value;
    if (isConfigSecret(key)) secretKeys.add(key.slice(prefix.length));
  }
  return parseSpec(raw, pulumi.getStack(), secretKeys);
}

/** Declares the chosen target's resources. */
export function deploy(spec: DeploymentSpec) {
  const def: TargetDefinition<unknown> = TARGETS[spec.target as TargetName];
  return def.deploy(spec);
}
