/**
 * The `clawstack:kubernetes` section: where the stack runs in a cluster (kubeconfig, namespace), how
 * traffic reaches it (ingress class, cert-manager issuer), where data lives (storage class, or external
 * Redis/Postgres URLs), where models come from, and which cluster add-ons to use (Prometheus Operator,
 * KEDA). Errors name `clawstack:kubernetes.<key>` or the common key they concern.
 */
import { z } from 'zod';
import type { CommonSpec } from '../../spec/common.ts';
import {
  bool,
  cidrList,
  HOSTNAME,
  int,
  PROJECT,
  readSection,
  record,
  StackConfigError,
} from '../../spec/schema.ts';
import { EKS_KEYS, EKS_STORAGE_CLASS, parseEksSpec } from './eks-spec.ts';
import type { EksSpec } from './eks-spec.ts';

/** A DNS-1123 label (namespaces, object names). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label value: ≤ 63 characters, alphanumerics at both ends, `-_.` inside. */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** A label key: an optional DNS-subdomain prefix and `/`, then a name like a label value (not empty). */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Where the CPU and CUDA images keep the models they were built with (MODEL_SOURCE in app/Dockerfile*). */
export const BAKED_MODEL_DIR = '/app/models';

const secretUrl = (scheme: RegExp, example: string) => ({
  schema: z
    .string()
    .regex(scheme)
    .refine((u) => URL.canParse(u)),
  allowed: `${example}, set with pulumi config set --secret (the section becomes secret)`,
});

export const KUBERNETES_KEYS = {
  ...EKS_KEYS,
  namespace: {
    schema: z.string().regex(DNS_LABEL),
    allowed: 'a DNS-1123 label (lowercase letters, digits, -; at most 63 characters)',
  },
  kubeconfig: {
    schema: z.string().min(1),
    allowed:
      'kubeconfig text, set with pulumi config set --secret --path clawstack:kubernetes.kubeconfig (unset: the ambient kubeconfig)',
  },
  context: { schema: z.string().min(1), allowed: 'a context name of the kubeconfig' },
  ingressClassName: { schema: z.string().regex(DNS_LABEL), allowed: 'an IngressClass name, e.g. nginx' },
  ingressNamespace: {
    schema: z.string().regex(DNS_LABEL),
    allowed: 'the namespace the ingress controller runs in (NetworkPolicy source), e.g. ingress-nginx',
  },
  clusterIssuer: {
    schema: z.string().regex(DNS_LABEL),
    allowed: 'a cert-manager ClusterIssuer name, e.g. letsencrypt-prod',
  },
  storageClass: { schema: z.string().regex(DNS_LABEL), allowed: 'a StorageClass name, e.g. gp3' },
  redisSizeGb: { schema: int(1, 16384), allowed: 'an integer number of GiB from 1 to 16384' },
  postgresSizeGb: { schema: int(1, 16384), allowed: 'an integer number of GiB from 1 to 16384' },
  redisUrl: secretUrl(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL'),
  databaseUrl: secretUrl(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL'),
  modelSource: {
    schema: z.string().regex(/^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?|\/\S*)$/),
    allowed: `s3://bucket/prefix (any S3-compatible store), or a directory inside the image (default ${BAKED_MODEL_DIR})`,
  },
  objectStorageCidrs: {
    schema: cidrList(1),
    allowed: 'IPv4 CIDRs the pods may reach on 443 for an s3:// modelSource, e.g. ["0.0.0.0/0"]',
  },
  serviceAccountAnnotations: {
    schema: record,
    allowed: 'an object of annotations for the app ServiceAccount (IRSA / workload identity for s3://)',
  },
  prometheusOperator: { schema: bool, allowed: 'true | false' },
  monitoringNamespace: {
    schema: z.string().regex(DNS_LABEL),
    allowed: 'the namespace Prometheus runs in (NetworkPolicy source for scrapes), e.g. monitoring',
  },
  keda: { schema: bool, allowed: 'true | false' },
  prometheusUrl: {
    schema: z.url({ protocol: /^https?$/ }),
    allowed:
      'the Prometheus URL KEDA queries for the queue depth, e.g. http://prometheus-operated.monitoring.svc:9090',
  },
  gpuTimeoutSeconds: { schema: int(60, 7200), allowed: 'an integer number of seconds from 60 to 7200' },
} as const;

export interface KubernetesSpec {
  /** The stack prefix as a DNS label: every object name starts with it. */
  base: string;
  namespace: string;
  /** `eks`: this stack creates the cluster (and its network); otherwise the kubeconfig's cluster. */
  cluster: { kubeconfig?: string; context?: string; eks?: EksSpec };
  ingress: { className: string; namespace: string; clusterIssuer: string; host: string };
  data: { storageClass?: string; redisSizeGb: number; postgresSizeGb: number };
  /** dataServices managed: the external URLs (secret values). */
  external?: { redisUrl: string; databaseUrl: string; ports: { redis: number; postgres: number } };
  models: { source: string; fromObjectStorage: boolean; objectStorageCidrs: string[] };
  serviceAccountAnnotations: Record<string, string>;
  monitoring: { prometheusOperator: boolean; namespace: string };
  keda?: { prometheusUrl: string };
  gpuTimeoutSeconds: number;
}

export const k8sKey = (key: string) => `${PROJECT}:kubernetes.${key}`;
const commonKey = (key: string) => `${PROJECT}:${key}`;

/** Every label an object carries must be a valid Kubernetes label: the stack's tags are checked up front. */
export function checkLabels(tags: Record<string, string>) {
  for (const [key, value] of Object.entries(tags)) {
    const slash = key.lastIndexOf('/');
    const name = slash < 0 ? key : key.slice(slash + 1);
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const keyOk = LABEL_NAME.test(name) && (prefix === undefined || HOSTNAME.test(prefix));
    if (!keyOk || !LABEL_VALUE.test(value))
      throw new StackConfigError(
        commonKey('tags'),
        { [key]: value },
        'Kubernetes label keys and values (≤ 63 characters of letters, digits, -_. with alphanumerics at both ends)',
        `${key}=${value} is not a valid label on target kubernetes`,
      );
  }
}

function checkData(common: CommonSpec, v: { redisUrl?: string; databaseUrl?: string }, secret: boolean) {
  const given = (['redisUrl', 'databaseUrl'] as const).filter((k) => v[k] !== undefined);
  if (common.dataServices === 'colocated') {
    if (given.length)
      throw new StackConfigError(
        k8sKey(given[0]!),
        '(secret)',
        `unset with clawstack:dataServices colocated (Redis and Postgres run as StatefulSets in the namespace)`,
      );
    return undefined;
  }
  for (const k of ['redisUrl', 'databaseUrl'] as const)
    if (v[k] === undefined)
      throw new StackConfigError(
        k8sKey(k),
        undefined,
        KUBERNETES_KEYS[k].allowed,
        'clawstack:dataServices managed needs the external URL',
      );
  if (!secret)
    throw new StackConfigError(
      k8sKey(given[0]!),
      '(hidden)',
      KUBERNETES_KEYS[given[0]!].allowed,
      'the URL holds a password, so the section must be set with --secret',
    );
  const port = (url: string, fallback: number) => Number(new URL(url).port || fallback);
  return {
    redisUrl: v.redisUrl!,
    databaseUrl: v.databaseUrl!,
    ports: { redis: port(v.redisUrl!, 6379), postgres: port(v.databaseUrl!, 5432) },
  };
}

/** Parses `clawstack:kubernetes` and applies the Kubernetes rules. Pure; throws StackConfigError. */
export function parseKubernetesSpec(
  section: Record<string, unknown>,
  common: CommonSpec,
  secret: boolean,
): KubernetesSpec {
  const v = readSection(section, KUBERNETES_KEYS, k8sKey);
  checkLabels(common.tags);
  if (!common.tls.domain)
    throw new StackConfigError(
      commonKey('domain'),
      undefined,
      'a DNS name pointing at the ingress controller (cert-manager obtains its certificate)',
      'target kubernetes serves the API through an Ingress with TLS',
    );
  if (v.kubeconfig !== undefined && !secret)
    throw new StackConfigError(
      k8sKey('kubeconfig'),
      '(hidden)',
      KUBERNETES_KEYS.kubeconfig.allowed,
      'a kubeconfig holds credentials',
    );
  const eks = parseEksSpec(v, common);
  const source = v.modelSource ?? BAKED_MODEL_DIR;
  const fromObjectStorage = source.startsWith('s3://');
  if (v.objectStorageCidrs && !fromObjectStorage)
    throw new StackConfigError(
      k8sKey('objectStorageCidrs'),
      v.objectStorageCidrs,
      'unset unless clawstack:kubernetes.modelSource is s3:// (models baked into the image need no egress)',
    );
  const keda = v.keda ?? false;
  if (v.prometheusUrl && !keda)
    throw new StackConfigError(k8sKey('prometheusUrl'), v.prometheusUrl, 'unset unless keda is true');
  const monitoringNamespace = v.monitoringNamespace ?? 'monitoring';
  const base = common.prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)
    .replace(/-+$/, '');
  return {
    base,
    namespace: v.namespace ?? base,
    cluster: { kubeconfig: v.kubeconfig, context: v.context, eks },
    ingress: {
      className: v.ingressClassName ?? 'nginx',
      namespace: v.ingressNamespace ?? 'ingress-nginx',
      clusterIssuer: v.clusterIssuer ?? 'letsencrypt-prod',
      host: common.tls.domain,
    },
    data: {
      storageClass: v.storageClass ?? (eks ? EKS_STORAGE_CLASS : undefined),
      redisSizeGb: v.redisSizeGb ?? 5,
      postgresSizeGb: v.postgresSizeGb ?? 20,
    },
    external: checkData(common, v, secret),
    models: {
      source,
      fromObjectStorage,
      objectStorageCidrs: fromObjectStorage ? (v.objectStorageCidrs ?? ['0.0.0.0/0']) : [],
    },
    serviceAccountAnnotations: v.serviceAccountAnnotations ?? {},
    monitoring: { prometheusOperator: v.prometheusOperator ?? false, namespace: monitoringNamespace },
    keda: keda
      ? { prometheusUrl: v.prometheusUrl ?? `http://prometheus-operated.${monitoringNamespace}.svc:9090` }
      : undefined,
    gpuTimeoutSeconds: v.gpuTimeoutSeconds ?? 900,
  };
}
