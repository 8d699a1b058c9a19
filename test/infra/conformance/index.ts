/**
 * One adapter per built target; the conformance suite runs every one (a missing adapter fails it).
 * Variants of a target (another shape of the same target) are listed under their own name.
 */
import { awsAdapter } from './aws.ts';
import { dockerAdapter, dockerTlsAdapter } from './docker.ts';
import { kubernetesAdapter, kubernetesEksAdapter } from './kubernetes.ts';
import type { ConformanceAdapter } from './types.ts';

export const ADAPTERS: Record<string, ConformanceAdapter> = {
  aws: awsAdapter,
  kubernetes: kubernetesAdapter,
  docker: dockerAdapter,
  'kubernetes (cluster: eks)': kubernetesEksAdapter,
  'docker (domain: Caddy TLS edge)': dockerTlsAdapter,
};
