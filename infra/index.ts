/**
 * clawstack's Pulumi program: stack config → validated spec → the chosen target's resources.
 * `clawstack:target` picks the target (infra/targets/); see docs/infra.md for every config key.
 */
import * as pulumi from '@pulumi/pulumi';
import { deploy, loadSpec } from './spec/index.ts';

const spec = loadSpec();
const result = deploy(spec);

/** Where clients reach the API. */
export const url = result.url;
/** The hardware and shape the stack runs on. */
export const tier = result.tierSummary;
export const target = spec.target;
/** Target-specific outputs (AWS: bucket, alarm topic, dashboard; Kubernetes: namespace; …). */
export const details = result.extras;
/** The first API key (`pulumi stack output bootstrapApiKey --show-secrets`); always a secret. */
export const bootstrapApiKey = result.bootstrapApiKey && pulumi.secret(result.bootstrapApiKey);
