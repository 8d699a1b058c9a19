/** The Kubernetes target read as containers: the api/worker Deployments with their ConfigMaps. */
import type { ProgramRun, RecordedResource } from '../../../scripts/plan/harness.ts';
import { UNTAGGABLE } from '../helpers.ts';
import type { ConformanceAdapter, DeclaredContainer } from './types.ts';

type Json = Record<string, unknown>;
/** The app roles run as Deployments (Redis/Postgres as StatefulSets, checked in kubernetes.test.ts). */
const APP_WORKLOAD = 'kubernetes:apps/v1:Deployment';

const cpuMillis = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);
const mebibytes = (q: string) =>
  q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : Number(q.replace(/Mi$/, ''));

/** The plain environment of a container: its ConfigMaps (auto-named `<resource name>-<suffix>`) and env. */
function plainEnv(run: ProgramRun, c: Json): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ref of (c.envFrom ?? []) as { configMapRef?: { name: string } }[]) {
    const name = ref.configMapRef?.name;
    if (!name) continue;
    const map = run.resources.find(
      (x) => x.type === 'kubernetes:core/v1:ConfigMap' && name.startsWith(`${x.name}-`),
    );
    Object.assign(env, map?.inputs.data ?? {});
  }
  for (const e of (c.env ?? []) as { name: string; value?: string }[]) if (e.value) env[e.name] = e.value;
  return env;
}

function declared(r: RecordedResource, run: ProgramRun): DeclaredContainer {
  const pod = ((r.inputs.spec as Json).template as Json).spec as Json;
  const c = (pod.containers as Json[])[0]!;
  const limits = ((c.resources as Json).limits ?? {}) as Record<string, string>;
  const path = ((c.readinessProbe as Json | undefined)?.httpGet as Json | undefined)?.path;
  return {
    role: String(c.name),
    readinessPath: typeof path === 'string' ? path : undefined,
    stopGraceSeconds: Number(pod.terminationGracePeriodSeconds),
    cpuLimitMillis: cpuMillis(String(limits.cpu)),
    memoryMiB: mebibytes(String(limits.memory)),
    gpus: Number(limits['nvidia.com/gpu'] ?? 0),
    env: plainEnv(run, c),
  };
}

/** Config for a combination: the domain the Ingress needs; external URLs (secret) with managed data. */
export function kubernetesConfig(
  c: { tier: string; capacity: string; dataServices: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const { kubernetes, ...rest } = extra as { kubernetes?: Json };
  const managed = c.dataServices === 'managed';
  return {
    target: 'kubernetes',
    tier: c.tier,
    capacity: c.capacity,
    dataServices: c.dataServices,
    domain: 'api.example.com',
    allowedCidrs: ['203.0.113.0/24', '198.51.100.0/24'],
    ...rest,
    kubernetes: {
      ...(managed
        ? {
            redisUrl: 'rediss://:MOCKSECRETredis0000@redis.example.internal:6380',
            databaseUrl: 'postgres://clawstack:MOCKSECRETdb0000@db.example.internal:5432/clawstack',
          }
        : {}),
      ...kubernetes,
    },
  };
}

export const kubernetesAdapter: ConformanceAdapter = {
  // The Ingress controller.
  proxyHops: () => 1,
  target: 'kubernetes',
  config: (c, extra) => kubernetesConfig(c, extra),
  // With managed data the section holds the external URLs, so it is set with --secret.
  secretKeys: (c) => (c.dataServices === 'managed' ? ['kubernetes'] : []),
  containers: (run) => run.resources.filter((r) => r.type === APP_WORKLOAD).map((r) => declared(r, run)),
  labelled(run) {
    return run.resources
      .filter((r) => r.custom && r.type.startsWith('kubernetes:'))
      .map((r) => ({
        resource: `${r.type} ${r.name}`,
        labels: ((r.inputs.metadata as Json | undefined)?.labels ?? {}) as Record<string, string>,
      }));
  },
};

/** AWS resources of `cluster: eks` that take no tags. */
const EKS_UNTAGGABLE = new Set([...UNTAGGABLE, 'aws:kms/alias:Alias']);
/** Helm releases carry no object metadata of their own (their charts label what they install). */
const HELM_RELEASE = 'kubernetes:helm.sh/v3:Release';

/**
 * The same target with `clawstack:kubernetes.cluster: eks`: the stack also creates the EKS cluster,
 * so its AWS resources must carry the stack's tags as well as its Kubernetes objects the labels.
 */
export const kubernetesEksAdapter: ConformanceAdapter = {
  ...kubernetesAdapter,
  config: (c, extra = {}) => {
    const { kubernetes, ...rest } = extra as { kubernetes?: Json };
    return kubernetesConfig(c, {
      'aws:region': 'us-east-1',
      adminCidrs: ['192.0.2.10/32'],
      ...rest,
      kubernetes: { cluster: 'eks', modelSource: 's3://clawstack-models/models', ...kubernetes },
    });
  },
  labelled(run) {
    const aws = run.resources
      .filter((r) => r.custom && r.type.startsWith('aws:') && !EKS_UNTAGGABLE.has(r.type))
      .map((r) => ({
        resource: `${r.type} ${r.name}`,
        labels: (r.inputs.tags ?? {}) as Record<string, string>,
      }));
    const k8s = kubernetesAdapter.labelled(run).filter((r) => !r.resource.startsWith(`${HELM_RELEASE} `));
    return [...aws, ...k8s];
  },
};
