/**
 * The Kubernetes (and Docker label) rules: pod specs of every workload kind, NetworkPolicies,
 * LoadBalancer Services and Ingresses, written against the @pulumi/kubernetes type tokens.
 */
import { asList, get, isWorld, type PolicyResource, type Rule } from './resource.ts';

/** Workload kinds and where their pod spec sits. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  'kubernetes:core/v1:Pod': ['spec'],
  'kubernetes:apps/v1:Deployment': ['spec', 'template', 'spec'],
  'kubernetes:apps/v1:StatefulSet': ['spec', 'template', 'spec'],
  'kubernetes:apps/v1:DaemonSet': ['spec', 'template', 'spec'],
  'kubernetes:apps/v1:ReplicaSet': ['spec', 'template', 'spec'],
  'kubernetes:batch/v1:Job': ['spec', 'template', 'spec'],
  'kubernetes:batch/v1:CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** The pod spec of a workload resource, or undefined for anything else. */
export function podSpecOf(r: PolicyResource): unknown {
  const path = POD_SPEC_PATHS[r.type];
  return path ? get(r.inputs, ...path) : undefined;
}

interface ContainerView {
  name: string;
  container: unknown;
  pod: unknown;
}

function containersOf(r: PolicyResource): ContainerView[] {
  const pod = podSpecOf(r);
  if (!pod) return [];
  return [...asList(get(pod, 'initContainers')), ...asList(get(pod, 'containers'))].map((c) => ({
    name: `${r.name}/${String(get(c, 'name'))}`,
    container: c,
    pod,
  }));
}

/** A container rule: judges each container of each workload. */
function containerRule(
  name: string,
  description: string,
  fails: (c: ContainerView) => string | undefined,
): Rule {
  return {
    name,
    description,
    resource: (r) =>
      containersOf(r).flatMap((c) => {
        const why = fails(c);
        return why ? [`${c.name}: ${why}`] : [];
      }),
  };
}

const sc = (c: ContainerView, key: string) => get(c.container, 'securityContext', key);
const podSc = (c: ContainerView, key: string) => get(c.pod, 'securityContext', key);

function runsAsRoot(c: ContainerView): string | undefined {
  const uid = sc(c, 'runAsUser') ?? podSc(c, 'runAsUser');
  if (uid !== undefined && Number(uid) === 0) return 'runAsUser is 0; run as a non-root UID';
  if (uid !== undefined || sc(c, 'runAsNonRoot') === true || podSc(c, 'runAsNonRoot') === true) return;
  return 'set securityContext.runAsNonRoot: true and a runAsUser (the workload model gives one per role)';
}

const RESOURCE_FIELDS = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];
function missingResources(c: ContainerView): string | undefined {
  const missing = RESOURCE_FIELDS.filter((f) => get(c.container, 'resources', ...f.split('.')) === undefined);
  return missing.length
    ? `resources ${missing.join(', ')} not set; take them from the tier's process resources`
    : undefined;
}

function privileged(c: ContainerView): string | undefined {
  if (sc(c, 'privileged') === true) return 'securityContext.privileged is true; remove it';
  if (sc(c, 'allowPrivilegeEscalation') === true) return 'allowPrivilegeEscalation is true; set it to false';
  if (get(c.pod, 'hostNetwork') === true || get(c.pod, 'hostPID') === true)
    return 'the pod uses the host network or PID namespace; remove hostNetwork/hostPID';
  const hostPaths = asList(get(c.pod, 'volumes')).filter((v) => get(v, 'hostPath') !== undefined);
  return hostPaths.length
    ? `hostPath volume(s) ${hostPaths.map((v) => String(get(v, 'name'))).join(', ')}; use a PersistentVolumeClaim or emptyDir`
    : undefined;
}

export const k8sContainerRules: Rule[] = [
  containerRule('k8s-non-root', 'Kubernetes containers run as a non-root user.', runsAsRoot),
  containerRule(
    'k8s-read-only-root',
    'Kubernetes containers have a read-only root filesystem (writable paths are volumes).',
    (c) =>
      sc(c, 'readOnlyRootFilesystem') === true
        ? undefined
        : 'set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)',
  ),
  containerRule(
    'k8s-resources-set',
    'Kubernetes containers set CPU and memory requests and limits.',
    missingResources,
  ),
  containerRule(
    'k8s-no-privileged-or-hostpath',
    'No privileged containers, privilege escalation, host namespaces or hostPath volumes.',
    privileged,
  ),
];

const WEB = new Set([80, 443, 'http', 'https']);

/**
 * World-open NetworkPolicy ingress and LoadBalancer Services. `onlyPort` set: report rules that
 * admit that port from any source (the no-SSH rule); unset: report anything but 80/443 from the
 * internet.
 */
export function k8sNetworkPolicyWorldPorts(r: PolicyResource, onlyPort?: number): string[] {
  if (r.type === 'kubernetes:core/v1:Service') {
    if (get(r.inputs, 'spec', 'type') !== 'LoadBalancer') return [];
    const ranges = asList(get(r.inputs, 'spec', 'loadBalancerSourceRanges'));
    const world = ranges.length === 0 || ranges.some(isWorld);
    return asList(get(r.inputs, 'spec', 'ports'))
      .map((p) => Number(get(p, 'port')))
      .filter((p) => (onlyPort === undefined ? world && !WEB.has(p) : p === onlyPort))
      .map((p) => `${r.name}: LoadBalancer port ${p} is reachable from the internet; expose only 80/443`);
  }
  if (r.type !== 'kubernetes:networking.k8s.io/v1:NetworkPolicy') return [];
  return asList(get(r.inputs, 'spec', 'ingress')).flatMap((rule, i) => {
    const from = asList(get(rule, 'from'));
    const world = from.length === 0 || from.some((p) => isWorld(get(p, 'ipBlock', 'cidr')));
    const ports = asList(get(rule, 'ports')).map((p) => get(p, 'port'));
    if (onlyPort !== undefined)
      return ports.some((p) => Number(p) === onlyPort)
        ? [`${r.name}: ingress rule ${i} admits port ${onlyPort}; remove it`]
        : [];
    if (!world) return [];
    if (ports.length === 0)
      return [
        `${r.name}: ingress rule ${i} admits every port from anywhere; list ports 80/443 or narrow "from"`,
      ];
    const bad = ports.filter((p) => !WEB.has(p as number | string));
    return bad.length
      ? [`${r.name}: ingress rule ${i} admits port(s) ${bad.join(', ')} from anywhere; only 80/443 may be`]
      : [];
  });
}

const OLD_TLS = /\bTLSv1(\.[01])?\b(?!\.[23])/;

/** Ingresses terminate TLS for every host and do not allow TLS < 1.2 or plain-HTTP serving. */
export function k8sIngressTls(r: PolicyResource): string[] {
  if (r.type !== 'kubernetes:networking.k8s.io/v1:Ingress') return [];
  const tls = asList(get(r.inputs, 'spec', 'tls'));
  if (tls.length === 0) return [`${r.name}: no spec.tls; terminate TLS (cert-manager or a TLS secret)`];
  const covered = new Set(tls.flatMap((t) => asList(get(t, 'hosts'))));
  const hosts = asList(get(r.inputs, 'spec', 'rules'))
    .map((x) => get(x, 'host'))
    .filter((h) => h !== undefined && !covered.has(h));
  const annotations = (get(r.inputs, 'metadata', 'annotations') ?? {}) as Record<string, unknown>;
  const protocols = String(annotations['nginx.ingress.kubernetes.io/ssl-protocols'] ?? '');
  return [
    ...hosts.map((h) => `${r.name}: host ${String(h)} is not in spec.tls; add it`),
    ...(OLD_TLS.test(protocols)
      ? [`${r.name}: ssl-protocols "${protocols}" allows TLS < 1.2; use "TLSv1.2 TLSv1.3"`]
      : []),
    ...(String(annotations['nginx.ingress.kubernetes.io/ssl-redirect']) === 'false'
      ? [`${r.name}: ssl-redirect is "false" (plain HTTP is served); remove the annotation`]
      : []),
  ];
}

const LABELLED_DOCKER = new Set([
  'docker:index/container:Container',
  'docker:index/network:Network',
  'docker:index/volume:Volume',
]);
/** Kubernetes objects (not Helm/YAML/Kustomize groupings). */
const K8S_OBJECT = /^kubernetes:(?!helm\.sh|yaml|kustomize)[a-z0-9.-]*\/?v[0-9a-z]+:[A-Z]\w+$/;

/** Required labels on Kubernetes objects (metadata.labels) and Docker containers/networks/volumes. */
export function k8sLabelRule(r: PolicyResource, required: readonly string[]): string[] {
  let labels: Record<string, unknown> | undefined;
  if (K8S_OBJECT.test(r.type)) labels = get(r.inputs, 'metadata', 'labels') as Record<string, unknown>;
  else if (LABELLED_DOCKER.has(r.type))
    labels = Object.fromEntries(asList(r.inputs.labels).map((l) => [get(l, 'label'), get(l, 'value')]));
  else return [];
  const missing = required.filter((k) => !labels?.[k]);
  return missing.length
    ? [`${r.name}: missing label(s) ${missing.join(', ')}; build labels from the workload (workload.labels)`]
    : [];
}
