/**
 * clawstack's policy pack: `pulumi preview --policy-pack infra/policy` (and `pulumi up`). Every rule
 * is mandatory and lives in ./rules.ts as a pure function, which the offline plan
 * (`npm run plan -- --policy`) runs over the same resources without the Pulumi CLI.
 */
import { PolicyPack } from '@pulumi/policy';
import type { ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { RULES } from './rules.ts';
import type { PolicyResource, Rule } from './rules.ts';

/** A resource as the policy SDK passes it, in the shape the rules read. */
function fromSdk(r: {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  dependencies?: { urn: string }[];
}): PolicyResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    inputs: r.props,
    dependencies: (r.dependencies ?? []).map((d) => d.urn),
  };
}

/** One SDK policy per rule: per-resource checks, whole-stack checks, or both. */
export function toSdkPolicy(rule: Rule): ResourceValidationPolicy & Partial<StackValidationPolicy> {
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: 'mandatory',
    validateResource: (args, report) => {
      for (const message of rule.resource?.(fromSdk(args)) ?? []) report(message);
    },
    ...(rule.stack && {
      validateStack: (args, report) => {
        for (const message of rule.stack!(args.resources.map(fromSdk))) report(message);
      },
    }),
  };
}

new PolicyPack('clawstack', {
  description: 'clawstack mandatory rules: public access, TLS, ports, IMDSv2, encryption, tags, pod security',
  enforcementLevel: 'mandatory',
  policies: RULES.map(toSdkPolicy),
});
