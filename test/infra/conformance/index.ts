/** One adapter per built target; the conformance suite runs every one (a missing adapter fails it). */
import { awsAdapter } from './aws.ts';
import { dockerAdapter } from './docker.ts';
import { kubernetesAdapter } from './kubernetes.ts';
import type { ConformanceAdapter } from './types.ts';

export const ADAPTERS: Record<string, ConformanceAdapter> = {
  aws: awsAdapter,
  kubernetes: kubernetesAdapter,
  docker: dockerAdapter,
};
