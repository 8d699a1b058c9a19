/** One line of the settings a reviewer checks, for each Kubernetes object type (the offline plan). */
import type { RecordedResource } from './harness.ts';

// Recorded inputs are plain JSON of known shapes; `any` keeps the one-liners readable.
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function workload(kind: string, i: Json): string {
  const pod = i.spec.template.spec as Json;
  const c = pod.containers[0] as Json;
  const lim = c.resources.limits as Json;
  const gpu = lim['nvidia.com/gpu'] ? `, ${String(lim['nvidia.com/gpu'])} GPU` : '';
  const spot = (pod.tolerations ?? []).some((t: Json) => t.key === 'karpenter.sh/capacity-type')
    ? 'spot'
    : 'on-demand';
  const claims = (i.spec.volumeClaimTemplates ?? []) as Json[];
  const storage = claims.length
    ? `, ${claims.map((v) => `${String(v.spec.resources.requests.storage)} on ${String(v.spec.storageClassName ?? 'the default class')}`).join(', ')}`
    : '';
  const timeout = i.metadata.annotations?.['pulumi.com/timeoutSeconds'];
  return `${kind} ${String(c.name)}: ${String(c.image)}, CPU ${String(c.resources.requests.cpu)}–${String(lim.cpu)}, ${String(lim.memory)}${gpu}, ${spot}, grace ${String(pod.terminationGracePeriodSeconds)} s${c.readinessProbe?.httpGet ? `, ready ${String(c.readinessProbe.httpGet.path)}` : ''}${storage}${timeout ? `, await ≤ ${String(timeout)} s` : ''}`;
}

function policy(s: Json): string {
  const rules = [
    ...(s.ingress ?? []).map((r: Json) => ['in', r]),
    ...(s.egress ?? []).map((r: Json) => ['out', r]),
  ];
  if (!rules.length) return `NetworkPolicy: deny all (${(s.policyTypes as string[]).join(' + ')})`;
  return `NetworkPolicy: ${rules
    .map(([dir, r]: [string, Json]) => {
      const peers = ((dir === 'in' ? r.from : r.to) ?? []) as Json[];
      const who = peers.length
        ? peers
            .map((p) =>
              p.ipBlock
                ? String(p.ipBlock.cidr)
                : p.namespaceSelector
                  ? `ns ${String(Object.values(p.namespaceSelector.matchLabels ?? {})[0])}`
                  : `pods ${String(p.podSelector.matchLabels?.['app.kubernetes.io/component'] ?? 'api+worker')}`,
            )
            .join(',')
        : 'anywhere';
      return `${dir} ${((r.ports ?? []) as Json[]).map((p) => `${String(p.protocol)}/${String(p.port)}`).join(',')} ${dir === 'in' ? 'from' : 'to'} ${who}`;
    })
    .join('; ')}`;
}

export function describeKubernetes(r: RecordedResource): string {
  const i = r.inputs as Json;
  const kind = r.type.split(':').pop() ?? '';
  const s = (i.spec ?? {}) as Json;
  switch (kind) {
    case 'Namespace':
      return `Namespace ${String(i.metadata.name)}, pod security ${String(i.metadata.labels['pod-security.kubernetes.io/enforce'])}`;
    case 'Deployment':
    case 'StatefulSet':
      return workload(kind, i);
    case 'Service':
      return `Service ${s.clusterIP === 'None' ? 'headless' : String(s.type)} ${(s.ports as Json[]).map((p) => String(p.port)).join(',')}`;
    case 'ConfigMap':
      return `ConfigMap, keys: ${Object.keys(i.data ?? {}).length}${i.metadata.labels?.grafana_dashboard ? ' (Grafana dashboard)' : ''}`;
    case 'Secret':
      return `Secret, keys: ${Object.keys(i.stringData ?? {}).length} (values secret)`;
    case 'ServiceAccount':
      return `ServiceAccount ${String(i.metadata.name)}, token not mounted${Object.keys(i.metadata.annotations ?? {}).length ? `, ${Object.keys(i.metadata.annotations).join(', ')}` : ''}`;
    case 'Ingress': {
      const a = i.metadata.annotations as Json;
      const paths = (s.rules[0].http.paths as Json[]).map((p) => String(p.path)).join(' ');
      return `Ingress ${String(s.rules[0].host)} (${String(s.ingressClassName)}), TLS by ${String(a['cert-manager.io/cluster-issuer'])}, paths ${paths}, from ${String(a['nginx.ingress.kubernetes.io/whitelist-source-range'])}`;
    }
    case 'NetworkPolicy':
      return policy(s);
    case 'HorizontalPodAutoscaler':
      return `HPA ${String(s.scaleTargetRef.name)} ${String(s.minReplicas)}–${String(s.maxReplicas)}, CPU ${String(s.metrics[0].resource.target.averageUtilization)}%`;
    case 'PodDisruptionBudget':
      return `PDB maxUnavailable ${String(s.maxUnavailable)}`;
    case 'ServiceMonitor':
      return `ServiceMonitor ${(s.endpoints as Json[]).map((e) => `${String(e.port)}${String(e.path)} every ${String(e.interval)}`).join(', ')}`;
    case 'PrometheusRule':
      return `PrometheusRule: ${(s.groups as Json[]).flatMap((g) => (g.rules as Json[]).map((x) => String(x.alert))).join(', ')}`;
    case 'ScaledObject':
      return `ScaledObject ${String(s.scaleTargetRef.name)} ${String(s.minReplicaCount)}–${String(s.maxReplicaCount)} on ${(s.triggers as Json[]).map((t) => (t.type === 'prometheus' ? `queue depth (${String(t.metadata.threshold)} per pod)` : `${String(t.type)} ${String(t.metadata.value)}%`)).join(' + ')}`;
    default:
      return '';
  }
}
