/**
 * What the conformance suite needs from each target: valid configs, and a reading of the declared
 * resources as containers (what each target made of the workload's roles). Each built target has one
 * adapter file beside this one, listed in ./index.ts.
 */
import type { ProgramRun } from '../../../scripts/plan/harness.ts';
import type { Capacity, TierName } from '../../../infra/tiers.ts';

export interface Combination {
  tier: TierName;
  capacity: Capacity;
  dataServices: 'colocated' | 'managed';
}

/** One app container as the target declared it. */
export interface DeclaredContainer {
  role: string;
  /** The path the target checks before sending traffic (probe, health check, health_uri). */
  readinessPath?: string;
  /** Seconds between SIGTERM and SIGKILL. */
  stopGraceSeconds: number;
  /** The CPU limit (millicores), memory limit (MiB) and GPUs the container gets. */
  cpuLimitMillis: number;
  memoryMiB: number;
  gpus: number;
  /** Plain (non-secret) environment as declared. */
  env: Record<string, string>;
}

export interface ConformanceAdapter {
  target: string;
  /** A valid config (keys without the project prefix, as runProgram takes them) for a combination. */
  config(c: Combination, extra?: Record<string, unknown>): Record<string, unknown>;
  /** The api and worker containers (and in-stack data roles) the run declared. */
  containers(run: ProgramRun): DeclaredContainer[];
  /** Resources that must carry the stack's labels/tags, with the labels they carry. */
  labelled(run: ProgramRun): { resource: string; labels: Record<string, string> }[];
  /** Config keys (as in `config`) the combination sets with `--secret`, beyond appEnv. */
  secretKeys?(c: Combination): string[];
  /** Texts the resources carry encoded (e.g. gzipped user-data), decoded, with where they come from. */
  texts?(run: ProgramRun): [string, string][];
  /** Proxies in front of the api in this combination (load balancer, ingress, Caddy); undefined: none. */
  proxyHops(c: Combination): number | undefined;
}
