/** The Docker target read as containers: the docker Container resources it declares. */
import { ofType } from '../../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../../scripts/plan/harness.ts';
import { dockerConfig } from '../docker-helpers.ts';
import type { ConformanceAdapter, DeclaredContainer } from './types.ts';

/** Resource types with no labels in the Docker API. */
const UNLABELLED = new Set(['docker:index/image:Image', 'docker:index/remoteImage:RemoteImage']);

const labelsOf = (r: RecordedResource): Record<string, string> =>
  Object.fromEntries(
    ((r.inputs.labels ?? []) as { label: string; value: string }[]).map((l) => [l.label, l.value]),
  );

function declared(r: RecordedResource): DeclaredContainer {
  const i = r.inputs as {
    envs?: string[];
    healthcheck?: { tests?: string[] };
    stopTimeout?: number;
    cpus?: string;
    memory?: number;
    deviceRequests?: { count?: number }[];
  };
  const check = (i.healthcheck?.tests ?? []).join(' ');
  return {
    role: labelsOf(r).role ?? r.name,
    readinessPath: /http:\/\/127\.0\.0\.1:\d+(\/[^')\s]*)/.exec(check)?.[1],
    stopGraceSeconds: i.stopTimeout ?? NaN,
    cpuLimitMillis: i.cpus ? Math.round(Number(i.cpus) * 1000) : NaN,
    memoryMiB: i.memory ?? NaN,
    gpus: (i.deviceRequests ?? []).reduce((n, d) => n + (d.count ?? 0), 0),
    env: Object.fromEntries((i.envs ?? []).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string])),
  };
}

export const dockerAdapter: ConformanceAdapter = {
  // These configs set no domain, so no Caddy: clients reach the api directly.
  proxyHops: () => undefined,
  target: 'docker',
  config: (c, extra) => dockerConfig(c, extra),
  // The app roles (the data roles' grace is their own, not the app's drain).
  containers: (run: ProgramRun) =>
    ofType(run, 'docker:index/container:Container')
      .map(declared)
      .filter((c) => c.env.CLAWSTACK_ROLE !== undefined),
  labelled: (run) =>
    run.resources
      .filter((r) => r.custom && r.type.startsWith('docker:') && !UNLABELLED.has(r.type))
      .map((r) => ({ resource: `${r.type} ${r.name}`, labels: labelsOf(r) })),
};

/**
 * The same target with `clawstack:domain` set: Caddy terminates TLS in front of the api (one proxy hop),
 * so the app's containers and the edge's must keep the same promises.
 */
export const dockerTlsAdapter: ConformanceAdapter = {
  ...dockerAdapter,
  proxyHops: () => 1,
  config: (c, extra) =>
    dockerConfig(c, { domain: 'local.example.com', acmeEmail: 'ops@example.com', ...extra }),
};
