/**
 * The Kubernetes target's component: wires the workload's roles into one namespace through an
 * explicit provider. Every decision is made in the pure modules beside this file (spec, pod,
 * manifests, network, monitoring); this constructor only declares the objects they describe.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { DeploymentSpec, TierSummary } from '../types.ts';
import {
  buildWorkload,
  containersOf,
  inStackPostgresUrl,
  inStackRedisUrl,
  resolveSecretRefs,
  secretRef,
} from '../../workload/index.ts';
import type { Container, SecretName, Workload, WorkloadWiring } from '../../workload/index.ts';
import { deployment, hpa, ingress, objectName, pdb, service, statefulSet } from './manifests.ts';
import { dashboard, ruleGroups, scaledObjectSpec, serviceMonitorSpec } from './monitoring.ts';
import { networkPolicies } from './network.ts';
import { containerSpec, objectLabels } from './pod.ts';
import type { KubernetesSpec } from './spec.ts';
import { EksCluster } from './eks/cluster.ts';
import { nodeGroupPlans } from './eks/nodes.ts';
import type { EksSpec } from './eks-spec.ts';

export interface KubernetesDeploymentArgs {
  spec: DeploymentSpec<KubernetesSpec>;
}

/**
 * Clients reach the api through the Ingress controller, which appends them to X-Forwarded-For (a cloud
 * load balancer in front of the controller is the controller's own setting, e.g. proxy protocol).
 */
const INGRESS_HOPS = 1;

/** How the app reaches Redis/Postgres: the in-namespace Services, or the external URLs (secrets). */
export function wiringFor(spec: DeploymentSpec<KubernetesSpec>): WorkloadWiring {
  const k = spec.section;
  const modelSource = k.models.source;
  if (!k.external)
    return {
      redisUrl: inStackRedisUrl(objectName(k.base, 'redis')),
      databaseUrl: inStackPostgresUrl(objectName(k.base, 'postgres')),
      modelSource,
      inStackData: true,
      trustedProxyHops: INGRESS_HOPS,
    };
  return {
    redisUrl: secretRef('redisUrl'),
    databaseUrl: secretRef('databaseUrl'),
    modelSource,
    inStackData: false,
    trustedProxyHops: INGRESS_HOPS,
    secrets: {
      redisUrl: { kind: 'config', value: k.external.redisUrl },
      databaseUrl: { kind: 'config', value: k.external.databaseUrl },
    },
  };
}

export function tierSummary(spec: DeploymentSpec<KubernetesSpec>, w: Workload): TierSummary {
  const r = w.app.api.resources;
  return {
    tier: spec.tier.name,
    capacity: spec.capacity,
    namespace: spec.section.namespace,
    perProcess: `${r.cpuMillis}m–${r.cpuLimitMillis}m CPU, ${r.memoryMiB} MiB${r.gpus ? `, ${r.gpus} nvidia.com/gpu` : ''}`,
    dataServices: spec.dataServices,
    scaling: `HPA ${Math.max(1, w.scaling.min)}–${w.scaling.max} replicas per role, CPU target ${w.scaling.cpuTargetPercent}%${spec.section.keda ? ', workers on queue depth (KEDA)' : ''}`,
    executionProvider: spec.tier.app.executionProvider,
    modelPrecision: spec.tier.app.modelPrecision,
    ...(spec.section.cluster.eks ? eksSummary(spec, spec.section.cluster.eks) : {}),
  };
}

/** The cluster and node groups a `cluster: eks` stack creates. */
export function eksSummary(spec: DeploymentSpec<KubernetesSpec>, eks: EksSpec): TierSummary {
  return {
    cluster: `EKS ${eks.version}, ${eks.endpoint.access} endpoint`,
    nodeGroups: nodeGroupPlans(spec.tier, spec.capacity, eks).map(
      (p) =>
        `${p.role}: ${p.capacityType} ${p.instanceTypes.join('/')} × ${p.scaling.minSize}–${p.scaling.maxSize}`,
    ),
  };
}

export class KubernetesDeployment extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  /** The generated bootstrap API key (a Pulumi secret): the stack output `bootstrapApiKey`. */
  readonly bootstrapApiKey?: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  readonly tierSummary: TierSummary;
  /** The cluster this stack created (`clawstack:kubernetes.cluster: eks`). */
  readonly eks?: EksCluster;

  constructor(name: string, args: KubernetesDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:kubernetes:KubernetesDeployment', name, {}, opts);
    const spec = args.spec;
    const k = spec.section;
    const base = k.base;
    const w = buildWorkload(spec, wiringFor(spec));
    this.tierSummary = tierSummary(spec, w);

    const { provider, ready, eks } = this.cluster(name, spec, w);
    this.eks = eks;
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      {
        metadata: {
          name: k.namespace,
          labels: {
            ...objectLabels(w, base),
            // Every pod here meets the restricted Pod Security Standard; enforce it.
            'pod-security.kubernetes.io/enforce': 'restricted',
          },
        },
      },
      { parent: this, provider, dependsOn: ready },
    );
    const o = { parent: this, provider, dependsOn: [ns] };
    const values = secretValues(name, w, { parent: this });
    this.bootstrapApiKey = values.bootstrapApiKey;

    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-app-sa`,
      {
        metadata: {
          name: objectName(base, 'app'),
          namespace: k.namespace,
          labels: objectLabels(w, base),
          annotations: k.serviceAccountAnnotations,
        },
        automountServiceAccountToken: false,
      },
      o,
    );

    this.roles(name, w, k, { values, serviceAccountName: sa.metadata.name }, o);

    const ing = new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      ingress(w, k, base, spec.network.allowedCidrs),
      o,
    );
    for (const policy of networkPolicies(w, k, base))
      new k8s.networking.v1.NetworkPolicy(
        `${name}-np-${policy.name}`,
        {
          metadata: {
            name: objectName(base, policy.name),
            namespace: k.namespace,
            labels: objectLabels(w, base),
          },
          spec: policy.spec,
        },
        o,
      );
    this.observability(name, w, k, o);

    this.namespace = ns.metadata.name;
    this.url = ing.spec.rules.apply((rules) => `https://${rules[0]?.host ?? k.ingress.host}`);
    this.registerOutputs({ url: this.url, namespace: this.namespace });
  }

  /**
   * The provider: for the cluster this stack creates (EKS, whose add-ons the namespace waits for), or
   * for the kubeconfig's cluster.
   */
  private cluster(name: string, spec: DeploymentSpec<KubernetesSpec>, w: Workload) {
    const k = spec.section;
    if (k.cluster.eks) {
      const eks = new EksCluster(
        `${name}-eks`,
        {
          spec,
          eks: k.cluster.eks,
          labels: objectLabels(w, k.base),
          appServiceAccount: { namespace: k.namespace, name: objectName(k.base, 'app') },
        },
        { parent: this },
      );
      return { provider: eks.provider, ready: eks.ready, eks };
    }
    const provider = new k8s.Provider(
      `${name}-cluster`,
      {
        kubeconfig: k.cluster.kubeconfig ? pulumi.secret(k.cluster.kubeconfig) : undefined,
        context: k.cluster.context,
      },
      { parent: this },
    );
    return { provider, ready: [] as pulumi.Resource[], eks: undefined };
  }

  /** Per role: env ConfigMap/Secret, Service, and a Deployment (+ PDB, HPA) or a StatefulSet. */
  private roles(
    name: string,
    w: Workload,
    k: KubernetesSpec,
    ctx: { values: SecretValues; serviceAccountName: pulumi.Output<string> },
    o: pulumi.CustomResourceOptions,
  ) {
    const base = k.base;
    for (const c of containersOf(w)) {
      const env = envObjects(name, w, k, c, ctx.values, o);
      const container = containerSpec(c, env);
      new k8s.core.v1.Service(`${name}-${c.role}-svc`, service(w, k, base, c), o);
      if (c.role === 'api' || c.role === 'worker') {
        new k8s.apps.v1.Deployment(
          `${name}-${c.role}`,
          deployment(w, k, base, c, { container, serviceAccountName: ctx.serviceAccountName }),
          o,
        );
        new k8s.policy.v1.PodDisruptionBudget(`${name}-${c.role}-pdb`, pdb(w, k, base, c), o);
        if (!(c.role === 'worker' && k.keda))
          new k8s.autoscaling.v2.HorizontalPodAutoscaler(`${name}-${c.role}-hpa`, hpa(w, k, base, c), o);
      } else {
        new k8s.apps.v1.StatefulSet(`${name}-${c.role}`, statefulSet(w, k, base, c, container), o);
      }
    }
  }

  /** ServiceMonitor, PrometheusRule and Grafana dashboard (Prometheus Operator); KEDA ScaledObject. */
  private observability(name: string, w: Workload, k: KubernetesSpec, o: pulumi.CustomResourceOptions) {
    const base = k.base;
    const metadata = (suffix: string, namespace = k.namespace, extra: Record<string, string> = {}) => ({
      name: objectName(base, suffix),
      namespace,
      labels: { ...objectLabels(w, base), ...extra },
    });
    if (k.monitoring.prometheusOperator) {
      new k8s.apiextensions.CustomResource(
        `${name}-servicemonitor`,
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'ServiceMonitor',
          metadata: metadata('metrics'),
          spec: serviceMonitorSpec(k, base),
        },
        o,
      );
      new k8s.apiextensions.CustomResource(
        `${name}-alerts`,
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PrometheusRule',
          metadata: metadata('alerts'),
          spec: ruleGroups(w, k.namespace),
        },
        o,
      );
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard`,
        {
          metadata: metadata('dashboard', k.monitoring.namespace, { grafana_dashboard: '1' }),
          data: { [`${base}.json`]: dashboard(w, k.namespace) },
        },
        o,
      );
    }
    if (k.keda)
      new k8s.apiextensions.CustomResource(
        `${name}-worker-scaler`,
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: metadata('worker'),
          spec: scaledObjectSpec(w, k, base, k.keda.prometheusUrl),
        },
        o,
      );
  }
}

type SecretValues = Partial<Record<SecretName, pulumi.Output<string>>>;

/** Generated secrets become random passwords; config secrets stay Pulumi secrets. */
function secretValues(name: string, w: Workload, opts: pulumi.CustomResourceOptions): SecretValues {
  const values: SecretValues = {};
  for (const [secret, source] of Object.entries(w.secrets) as [
    SecretName,
    Workload['secrets'][SecretName],
  ][]) {
    if (!source) continue;
    values[secret] =
      source.kind === 'generated'
        ? new random.RandomPassword(
            `${name}-${secret.toLowerCase().replace(/[^a-z0-9]/g, '-')}`,
            { length: source.length, special: false },
            opts,
          ).result
        : pulumi.secret(source.value);
  }
  return values;
}

/** A ConfigMap for the plain environment and a Secret for the rest (auto-named: a change rolls the pods). */
function envObjects(
  name: string,
  w: Workload,
  k: KubernetesSpec,
  c: Container,
  values: SecretValues,
  o: pulumi.CustomResourceOptions,
): { configMap?: pulumi.Output<string>; secret?: pulumi.Output<string> } {
  const metadata = { namespace: k.namespace, labels: objectLabels(w, k.base, c.role) };
  const out: { configMap?: pulumi.Output<string>; secret?: pulumi.Output<string> } = {};
  if (Object.keys(c.env).length)
    out.configMap = new k8s.core.v1.ConfigMap(
      `${name}-${c.role}-env`,
      { metadata, data: c.env },
      o,
    ).metadata.name;
  if (Object.keys(c.secretEnv).length) {
    const stringData = pulumi.secret(
      pulumi
        .all(values)
        .apply((v) =>
          Object.fromEntries(Object.entries(c.secretEnv).map(([key, t]) => [key, resolveSecretRefs(t, v)])),
        ),
    );
    out.secret = new k8s.core.v1.Secret(
      `${name}-${c.role}-secret-env`,
      { metadata, type: 'Opaque', stringData },
      o,
    ).metadata.name;
  }
  return out;
}
