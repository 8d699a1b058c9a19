/** The Kubernetes target: `clawstack:target: kubernetes`, section `clawstack:kubernetes`. */
import { defineTarget } from '../types.ts';
import { KubernetesDeployment } from './index.ts';
import { KUBERNETES_KEYS, parseKubernetesSpec } from './spec.ts';
import type { KubernetesSpec } from './spec.ts';

/** Seed numbers: the HPA runs 1–10 replicas per role unless clawstack:maxSize says otherwise. */
export const KUBERNETES_MAX_SIZE = 10;

export const kubernetesTarget = defineTarget<KubernetesSpec>({
  name: 'kubernetes',
  summary:
    'Deployments + HPA behind an ingress-nginx Ingress (cert-manager TLS), NetworkPolicies, in-cluster or external Redis/Postgres, optional Prometheus Operator and KEDA; on an existing cluster or an EKS cluster it creates',
  keys: KUBERNETES_KEYS,
  defaults: { maxSize: (_tier, _data, min) => Math.max(min, KUBERNETES_MAX_SIZE) },
  parse: (section, common, secret) => parseKubernetesSpec(section, common, secret),
  deploy(spec) {
    const d = new KubernetesDeployment(spec.prefix, { spec });
    const k = spec.section;
    return {
      url: d.url,
      tierSummary: d.tierSummary,
      extras: {
        namespace: d.namespace,
        ingressClassName: k.ingress.className,
        clusterIssuer: k.ingress.clusterIssuer,
        modelSource: k.models.source,
        ...(d.eks ? { clusterName: d.eks.clusterName, clusterEndpoint: d.eks.endpoint } : {}),
      },
      bootstrapApiKey: d.bootstrapApiKey,
    };
  },
});
