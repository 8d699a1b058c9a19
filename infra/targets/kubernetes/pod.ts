/**
 * A workload Container → a Kubernetes pod template: probes, resources, GPU, the restricted security
 * context, scratch volumes, spot/on-demand scheduling and the preStop pause. Pure.
 */
import type * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import type { Capacity, TierSpec } from '../../tiers.ts';
import type { Container, Probe, RoleName, Workload } from '../../workload/index.ts';

type PodSpec = k8s.types.input.core.v1.PodSpec;
type K8sContainer = k8s.types.input.core.v1.Container;
type K8sProbe = k8s.types.input.core.v1.Probe;
type Toleration = k8s.types.input.core.v1.Toleration;
type Affinity = k8s.types.input.core.v1.Affinity;

/**
 * Seconds the api waits in preStop before it gets SIGTERM: the endpoint controller and every
 * ingress/kube-proxy remove the pod from rotation in that time, so no new request reaches a draining pod.
 */
export const PRESTOP_SECONDS = 10;
/** The label every object carries that tells which role it belongs to. */
export const ROLE_LABEL = 'app.kubernetes.io/component';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
/** Scratch space per volume (model cache and temp files); the kubelet evicts a pod that writes more. */
export const SCRATCH_LIMIT = '2Gi';

/** Spot node labels of the three usual provisioners (any one marks a spot node). */
export const SPOT_LABELS: { key: string; value: string }[] = [
  { key: 'karpenter.sh/capacity-type', value: 'spot' },
  { key: 'eks.amazonaws.com/capacityType', value: 'SPOT' },
  { key: 'cloud.google.com/gke-spot', value: 'true' },
];
const CAPACITY_KEYS = new Set(SPOT_LABELS.map((l) => l.key));

/** The labels that select one role's pods. */
export function selectorLabels(base: string, role: RoleName): Record<string, string> {
  return { [INSTANCE_LABEL]: base, [ROLE_LABEL]: role };
}

/** The workload's labels plus the standard app.kubernetes.io ones (all valid label values). */
export function objectLabels(w: Workload, base: string, role?: RoleName): Record<string, string> {
  return {
    ...w.labels,
    'app.kubernetes.io/name': 'clawstack',
    'app.kubernetes.io/part-of': 'clawstack',
    'app.kubernetes.io/managed-by': 'pulumi',
    [INSTANCE_LABEL]: base,
    ...(role ? { [ROLE_LABEL]: role } : {}),
  };
}

export function probe(p: Probe): K8sProbe {
  const action =
    p.check.kind === 'http'
      ? { httpGet: { path: p.check.path, port: p.check.port } }
      : { exec: { command: p.check.command } };
  return {
    ...action,
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    failureThreshold: p.failureThreshold,
  };
}

/** Requests = the guaranteed share, limits = the ceiling; memory is one number; GPUs as a limit. */
export function resources(c: Container): k8s.types.input.core.v1.ResourceRequirements {
  const r = c.resources;
  return {
    requests: { cpu: `${r.cpuMillis}m`, memory: `${r.memoryMiB}Mi` },
    limits: {
      cpu: `${r.cpuLimitMillis}m`,
      memory: `${r.memoryMiB}Mi`,
      ...(r.gpus > 0 ? { 'nvidia.com/gpu': String(r.gpus) } : {}),
    },
  };
}

/** Only roles that take traffic through a Service pause before SIGTERM. */
export const pausesBeforeStop = (c: Container) => c.ports.some((p) => p.exposure === 'public');

/** SIGTERM → SIGKILL budget: the workload's stop grace, plus the preStop pause where there is one. */
export function terminationGraceSeconds(c: Container): number {
  return c.stopGraceSeconds + (pausesBeforeStop(c) ? PRESTOP_SECONDS : 0);
}

export function containerSpec(
  c: Container,
  env: { configMap?: pulumi.Input<string>; secret?: pulumi.Input<string> },
): K8sContainer {
  return {
    name: c.role,
    image: c.image,
    imagePullPolicy: 'IfNotPresent',
    ...(c.args ? { command: c.args } : {}),
    ports: c.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
    envFrom: [
      ...(env.configMap ? [{ configMapRef: { name: env.configMap } }] : []),
      ...(env.secret ? [{ secretRef: { name: env.secret } }] : []),
    ],
    resources: resources(c),
    ...(c.probes.startup ? { startupProbe: probe(c.probes.startup) } : {}),
    livenessProbe: probe(c.probes.liveness),
    readinessProbe: probe(c.probes.readiness),
    ...(pausesBeforeStop(c)
      ? { lifecycle: { preStop: { exec: { command: ['sleep', String(PRESTOP_SECONDS)] } } } }
      : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: c.runAsUser,
      runAsGroup: c.runAsUser,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: c.readOnlyRootFilesystem,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: c.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
  };
}

/**
 * Spot: required node affinity for a spot node of any of the usual provisioners (terms are ORed) and
 * tolerations for their spot taints. On-demand: required affinity away from every spot label (NotIn
 * also matches nodes without the label, so plain clusters schedule as before).
 */
export function capacityScheduling(capacity: Capacity): { affinity: Affinity; tolerations: Toleration[] } {
  if (capacity === 'spot')
    return {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: SPOT_LABELS.map((l) => ({
              matchExpressions: [{ key: l.key, operator: 'In', values: [l.value] }],
            })),
          },
        },
      },
      tolerations: SPOT_LABELS.map((l) => ({
        key: l.key,
        operator: 'Equal',
        value: l.value,
        effect: 'NoSchedule',
      })),
    };
  return {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: SPOT_LABELS.map((l) => ({
                key: l.key,
                operator: 'NotIn',
                values: [l.value],
              })),
            },
          ],
        },
      },
    },
    tolerations: [],
  };
}

/**
 * Where a role may run: capacity affinity for every role; the tier's node selector (minus the
 * capacity labels, which the affinity covers for every provisioner) and tolerations for GPU roles.
 */
export function scheduling(tier: TierSpec, capacity: Capacity, gpu: boolean) {
  const { affinity, tolerations } = capacityScheduling(capacity);
  const nodeSelector = Object.fromEntries(
    Object.entries(tier.kubernetes.nodeSelector[capacity]).filter(([k]) => !CAPACITY_KEYS.has(k)),
  );
  return {
    affinity,
    tolerations: [...tolerations, ...(gpu ? (tier.kubernetes.tolerations as Toleration[]) : [])],
    ...(gpu && Object.keys(nodeSelector).length ? { nodeSelector } : {}),
  };
}

/** The pod spec for one role: security context, scheduling, spread, grace, scratch volumes. */
export function podSpec(
  w: Workload,
  c: Container,
  opts: {
    base: string;
    container: K8sContainer;
    serviceAccountName?: pulumi.Input<string>;
  },
): PodSpec {
  const selector = selectorLabels(opts.base, c.role);
  const spread = (topologyKey: string) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selector },
  });
  return {
    ...(opts.serviceAccountName ? { serviceAccountName: opts.serviceAccountName } : {}),
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: terminationGraceSeconds(c),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: c.runAsUser,
      runAsGroup: c.runAsUser,
      fsGroup: c.runAsUser,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...scheduling(w.tier, w.capacity, c.resources.gpus > 0),
    topologySpreadConstraints: [spread('topology.kubernetes.io/zone'), spread('kubernetes.io/hostname')],
    containers: [opts.container],
    volumes: c.volumes
      .filter((v) => v.kind === 'scratch')
      .map((v) => ({ name: v.name, emptyDir: { sizeLimit: SCRATCH_LIMIT } })),
  };
}
