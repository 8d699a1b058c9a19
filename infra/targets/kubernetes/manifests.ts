/**
 * The workload's roles as Kubernetes objects: Deployments (api, worker), StatefulSets (Redis,
 * Postgres), Services, the Ingress, autoscalers and disruption budgets. Pure: each function returns
 * the object's `metadata` and `spec`; ./index.ts declares them.
 */
import type * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import type { Container, Workload } from '../../workload/index.ts';
import { objectLabels, podSpec, selectorLabels } from './pod.ts';
import type { KubernetesSpec } from './spec.ts';

type Meta = k8s.types.input.meta.v1.ObjectMeta;

/** Object names: the stack prefix as a DNS label, then the role. */
export const objectName = (base: string, role: string) => `${base}-${role}`;

/**
 * TLS 1.2-only AEAD suites (ECDHE, GCM or ChaCha20): TLS 1.0/1.1 have none of them, so an older client
 * cannot complete a handshake on this Ingress whatever the controller's global ssl-protocols says.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
/** The app's public API prefixes; everything else (notably /metrics) is not routed by the Ingress. */
export const PUBLIC_PREFIXES = ['/v1', '/v2'] as const;

function meta(
  w: Workload,
  k: KubernetesSpec,
  base: string,
  c: Container,
  annotations?: Record<string, string>,
): Meta {
  return {
    name: objectName(base, c.role),
    namespace: k.namespace,
    labels: objectLabels(w, base, c.role),
    ...(annotations ? { annotations } : {}),
  };
}

/**
 * A GPU pod that cannot be scheduled (no GPU node, quota) would keep `pulumi up` waiting for
 * readiness; the timeout turns that into an error after `gpuTimeoutSeconds`.
 */
export function awaitAnnotations(c: Container, k: KubernetesSpec): Record<string, string> | undefined {
  return c.resources.gpus > 0 ? { 'pulumi.com/timeoutSeconds': String(k.gpuTimeoutSeconds) } : undefined;
}

/** A Deployment for an app role; replicas are left to its autoscaler (HPA or KEDA). */
export function deployment(
  w: Workload,
  k: KubernetesSpec,
  base: string,
  c: Container,
  pod: { container: k8s.types.input.core.v1.Container; serviceAccountName: pulumi.Input<string> },
) {
  return {
    metadata: meta(w, k, base, c, awaitAnnotations(c, k)),
    spec: {
      selector: { matchLabels: selectorLabels(base, c.role) },
      revisionHistoryLimit: 5,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: objectLabels(w, base, c.role) },
        spec: podSpec(w, c, { base, ...pod }),
      },
    },
  };
}

/** A one-replica StatefulSet for an in-stack data role, its persistent volumes as claims. */
export function statefulSet(
  w: Workload,
  k: KubernetesSpec,
  base: string,
  c: Container,
  container: k8s.types.input.core.v1.Container,
) {
  const sizeGb = c.role === 'redis' ? k.data.redisSizeGb : k.data.postgresSizeGb;
  return {
    metadata: meta(w, k, base, c),
    spec: {
      serviceName: objectName(base, c.role),
      replicas: 1,
      selector: { matchLabels: selectorLabels(base, c.role) },
      template: {
        metadata: { labels: objectLabels(w, base, c.role) },
        spec: podSpec(w, c, { base, container }),
      },
      volumeClaimTemplates: c.volumes
        .filter((v) => v.kind === 'persistent')
        .map((v) => ({
          metadata: { name: v.name, labels: objectLabels(w, base, c.role) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(k.data.storageClass ? { storageClassName: k.data.storageClass } : {}),
            resources: { requests: { storage: `${sizeGb}Gi` } },
          },
        })),
    },
  };
}

/** A Service per role: ClusterIP for the app roles, headless (the StatefulSet's) for data roles. */
export function service(w: Workload, k: KubernetesSpec, base: string, c: Container) {
  const data = c.role === 'redis' || c.role === 'postgres';
  return {
    metadata: meta(w, k, base, c),
    spec: {
      type: 'ClusterIP',
      ...(data ? { clusterIP: 'None' } : {}),
      selector: selectorLabels(base, c.role),
      ports: c.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: 'TCP' })),
    },
  };
}

/**
 * The Ingress: TLS through the cert-manager ClusterIssuer, TLS 1.2+ ciphers, HTTPS redirect, the
 * allowed source CIDRs (ingress-nginx; both the old and the current annotation name), and only the
 * public API prefixes routed, so /metrics is never reachable from outside.
 */
export function ingress(w: Workload, k: KubernetesSpec, base: string, allowedCidrs: string[]) {
  const api = w.app.api;
  const cidrs = allowedCidrs.join(',');
  const port = api.ports.find((p) => p.exposure === 'public')!;
  return {
    metadata: {
      name: objectName(base, 'api'),
      namespace: k.namespace,
      labels: objectLabels(w, base, 'api'),
      annotations: {
        'cert-manager.io/cluster-issuer': k.ingress.clusterIssuer,
        'nginx.ingress.kubernetes.io/ssl-redirect': 'true',
        'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true',
        'nginx.ingress.kubernetes.io/ssl-ciphers': TLS12_CIPHERS,
        'nginx.ingress.kubernetes.io/whitelist-source-range': cidrs,
        'nginx.ingress.kubernetes.io/allowlist-source-range': cidrs,
      },
    },
    spec: {
      ingressClassName: k.ingress.className,
      tls: [{ hosts: [k.ingress.host], secretName: objectName(base, 'tls') }],
      rules: [
        {
          host: k.ingress.host,
          http: {
            paths: PUBLIC_PREFIXES.map((path) => ({
              path,
              pathType: 'Prefix',
              backend: { service: { name: objectName(base, 'api'), port: { name: port.name } } },
            })),
          },
        },
      ],
    },
  };
}

/** autoscaling/v2 on average CPU utilisation (of the requests), scale-down slowed to avoid flapping. */
export function hpa(w: Workload, k: KubernetesSpec, base: string, c: Container) {
  return {
    metadata: meta(w, k, base, c),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(base, c.role) },
      minReplicas: Math.max(1, w.scaling.min),
      maxReplicas: w.scaling.max,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: w.scaling.cpuTargetPercent },
          },
        },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  };
}

/** One pod at a time may be evicted (node drains, spot reclaim, upgrades); never blocks a drain. */
export function pdb(w: Workload, k: KubernetesSpec, base: string, c: Container) {
  return {
    metadata: meta(w, k, base, c),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(base, c.role) } },
  };
}
