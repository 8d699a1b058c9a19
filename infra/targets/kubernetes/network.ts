/**
 * NetworkPolicies: deny everything, then allow only what the workload needs — DNS; the ingress
 * controller → api; api/worker → Redis/Postgres (in the namespace, or the external services' ports);
 * object storage on 443 for an s3:// model source; Prometheus → /metrics. Pure.
 */
import type { types } from '@pulumi/kubernetes';
import type { Workload } from '../../workload/index.ts';
import { REDIS_PORT, POSTGRES_PORT } from '../../workload/index.ts';
import { INSTANCE_LABEL, ROLE_LABEL, selectorLabels } from './pod.ts';
import type { KubernetesSpec } from './spec.ts';
import { POD_IDENTITY_AGENT } from './eks/addons.ts';
import { APP_CONTAINER_PORT } from '../../../app/src/api/paths.ts';

export interface Policy {
  /** Suffix of the object name. */
  name: string;
  spec: NetworkPolicySpec;
}

type NetworkPolicySpec = types.input.networking.v1.NetworkPolicySpec;

const tcp = (port: number) => ({ protocol: 'TCP', port });
const ns = (name: string) => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } },
});
/** Selects this stack's api and worker pods. */
const appRoles = (base: string) => ({
  matchLabels: { [INSTANCE_LABEL]: base },
  matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['api', 'worker'] }],
});

function dataPolicies(w: Workload, k: KubernetesSpec, base: string): Policy[] {
  if (k.external) {
    const anywhere = [{ ipBlock: { cidr: '0.0.0.0/0' } }];
    return [
      {
        name: 'app-to-data',
        spec: {
          podSelector: appRoles(base),
          policyTypes: ['Egress'],
          egress: [{ to: anywhere, ports: [tcp(k.external.ports.redis), tcp(k.external.ports.postgres)] }],
        },
      },
    ];
  }
  const app = { podSelector: appRoles(base) };
  const roles = [
    ['redis', REDIS_PORT],
    ['postgres', POSTGRES_PORT],
  ] as const;
  return roles.flatMap(([role, port]) =>
    w.data[role]
      ? [
          {
            name: `app-to-${role}`,
            spec: {
              podSelector: appRoles(base),
              policyTypes: ['Egress'],
              egress: [
                { to: [{ podSelector: { matchLabels: selectorLabels(base, role) } }], ports: [tcp(port)] },
              ],
            },
          },
          {
            name: `${role}-from-app`,
            spec: {
              podSelector: { matchLabels: selectorLabels(base, role) },
              policyTypes: ['Ingress'],
              ingress: [{ from: [app], ports: [tcp(port)] }],
            },
          },
        ]
      : [],
  );
}

/** The namespace's policies: default deny first, then one allowance per need. */
export function networkPolicies(w: Workload, k: KubernetesSpec, base: string): Policy[] {
  const policies: Policy[] = [
    { name: 'default-deny', spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
    {
      name: 'dns',
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] }],
      },
    },
    {
      name: 'ingress-to-api',
      spec: {
        podSelector: { matchLabels: selectorLabels(base, 'api') },
        policyTypes: ['Ingress'],
        ingress: [{ from: [ns(k.ingress.namespace)], ports: [tcp(APP_CONTAINER_PORT)] }],
      },
    },
    ...dataPolicies(w, k, base),
  ];
  if (k.models.fromObjectStorage)
    policies.push({
      name: 'object-storage',
      spec: {
        podSelector: appRoles(base),
        policyTypes: ['Egress'],
        egress: [
          { to: k.models.objectStorageCidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(443)] },
          // On a cluster this stack creates, the bucket credentials come from the Pod Identity agent.
          ...(k.cluster.eks
            ? [
                {
                  to: [{ ipBlock: { cidr: POD_IDENTITY_AGENT.cidr } }],
                  ports: [tcp(POD_IDENTITY_AGENT.port)],
                },
              ]
            : []),
        ],
      },
    });
  if (k.monitoring.prometheusOperator)
    policies.push({
      name: 'prometheus-scrape',
      spec: {
        podSelector: appRoles(base),
        policyTypes: ['Ingress'],
        ingress: [{ from: [ns(k.monitoring.namespace)], ports: [tcp(APP_CONTAINER_PORT)] }],
      },
    });
  return policies;
}
