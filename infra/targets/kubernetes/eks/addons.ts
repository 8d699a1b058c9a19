/**
 * What the workload needs inside a new EKS cluster, as data: the kubeconfig the Pulumi provider uses,
 * the default gp3 StorageClass, and the Helm releases (Cluster Autoscaler, ingress-nginx with TLS 1.2+,
 * cert-manager, the NVIDIA device plugin) with their values. Pure; ./cluster.ts declares them.
 */
import { TLS12_CIPHERS } from '../manifests.ts';
import { EKS_STORAGE_CLASS } from '../eks-spec.ts';
import { GPU_LABEL } from './nodes.ts';

/** EKS managed add-ons every cluster gets (versions: EKS's default for the cluster version). */
export const MANAGED_ADDONS = [
  'vpc-cni',
  'kube-proxy',
  'coredns',
  'eks-pod-identity-agent',
  'aws-ebs-csi-driver',
] as const;
/**
 * Add-on configuration values. The VPC CNI enforces NetworkPolicies only when told to (off by default:
 * without it the namespace's default-deny and every allow rule would be accepted and ignored).
 */
export const ADDON_CONFIGURATION: Partial<Record<(typeof MANAGED_ADDONS)[number], Record<string, string>>> = {
  'vpc-cni': { enableNetworkPolicy: 'true' },
};
/** The ServiceAccounts the EBS CSI controller and the Cluster Autoscaler run as (pod identity). */
export const EBS_CSI_SERVICE_ACCOUNT = 'ebs-csi-controller-sa';
export const AUTOSCALER_SERVICE_ACCOUNT = 'cluster-autoscaler';
/** Pods reach the EKS Pod Identity agent here (a link-local address on every node). */
export const POD_IDENTITY_AGENT = { cidr: '169.254.170.23/32', port: 80 } as const;

/** Helm charts, pinned (a chart upgrade is a reviewed change, not a side effect of `pulumi up`). */
export const CHARTS = {
  autoscaler: {
    chart: 'cluster-autoscaler',
    version: '9.46.6',
    repo: 'https://kubernetes.github.io/autoscaler',
  },
  ingressNginx: {
    chart: 'ingress-nginx',
    version: '4.12.1',
    repo: 'https://kubernetes.github.io/ingress-nginx',
  },
  certManager: { chart: 'cert-manager', version: 'v1.17.2', repo: 'https://charts.jetstack.io' },
  nvidiaDevicePlugin: {
    chart: 'nvidia-device-plugin',
    version: '0.17.1',
    repo: 'https://nvidia.github.io/k8s-device-plugin',
  },
} as const;

/**
 * A kubeconfig for the new cluster. The token comes from `aws eks get-token` at each use (valid 15
 * minutes), so the file holds no credential: Pulumi's provider runs it with the deployer's AWS identity,
 * which the cluster admits as admin (bootstrapClusterCreatorAdminPermissions).
 */
export function eksKubeconfig(c: { name: string; endpoint: string; caData: string; region: string }) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: c.name, cluster: { server: c.endpoint, 'certificate-authority-data': c.caData } }],
    contexts: [{ name: c.name, context: { cluster: c.name, user: c.name } }],
    'current-context': c.name,
    users: [
      {
        name: c.name,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: 'aws',
            args: ['eks', 'get-token', '--cluster-name', c.name, '--region', c.region, '--output', 'json'],
            interactiveMode: 'Never',
          },
        },
      },
    ],
  };
}

/**
 * The default StorageClass: encrypted gp3 through the EBS CSI driver, bound where the pod lands (the
 * volume's AZ follows the pod), expandable. Retain: deleting the claim does not delete Postgres' data.
 */
export function storageClass(labels: Record<string, string>) {
  return {
    metadata: {
      name: EKS_STORAGE_CLASS,
      labels,
      annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
    },
    provisioner: 'ebs.csi.aws.com',
    parameters: { type: 'gp3', encrypted: 'true', 'csi.storage.k8s.io/fstype': 'ext4' },
    reclaimPolicy: 'Retain',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: true,
  };
}

/**
 * NVIDIA's device plugin (its Helm chart: a DaemonSet) on the GPU nodes only: it advertises
 * `nvidia.com/gpu` to the kubelet (the NVIDIA AMI has the driver and container toolkit, not the
 * plugin). It tolerates the GPU taint. Like the other node agents it runs as root with the kubelet's
 * device-plugin directory mounted, which is why it is a chart here and not one of the workload's
 * objects (the policy pack's pod rules are for those).
 */
export function devicePluginValues() {
  return {
    nodeSelector: { [GPU_LABEL]: 'true' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    priorityClassName: 'system-node-critical',
    failOnInitError: false,
  };
}

/**
 * Cluster Autoscaler values: discovers this cluster's node groups by tag, balances similar groups
 * across AZs, picks the cheapest fit (least-waste), runs as the pod-identity ServiceAccount.
 */
export function autoscalerValues(c: { cluster: string; region: string; version: string }) {
  return {
    autoDiscovery: { clusterName: c.cluster },
    awsRegion: c.region,
    cloudProvider: 'aws',
    image: { tag: `v${c.version}.0` },
    rbac: { serviceAccount: { create: true, name: AUTOSCALER_SERVICE_ACCOUNT } },
    extraArgs: {
      'balance-similar-node-groups': true,
      expander: 'least-waste',
      'skip-nodes-with-system-pods': false,
      'scale-down-unneeded-time': '10m',
    },
  };
}

/**
 * ingress-nginx behind an AWS Network Load Balancer (TCP pass-through, so TLS ends at nginx with the
 * cert-manager certificate). TLS 1.2 and 1.3 only, with the Ingress' TLS 1.2 AEAD suites as the
 * controller's default too; the NLB keeps the client address so the Ingress' source ranges apply.
 */
export function ingressNginxValues(c: { className: string; allowedCidrs: string[] }) {
  return {
    controller: {
      ingressClassResource: { name: c.className, default: false },
      replicaCount: 2,
      config: {
        'ssl-protocols': 'TLSv1.2 TLSv1.3',
        'ssl-ciphers': TLS12_CIPHERS,
        hsts: 'true',
        'use-forwarded-headers': 'false',
      },
      service: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        loadBalancerSourceRanges: c.allowedCidrs,
        annotations: {
          'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
          'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
          'service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled': 'true',
        },
      },
      metrics: { enabled: true },
    },
  };
}

/** cert-manager with its CRDs (the ClusterIssuer below is one of them). */
export const certManagerValues = { crds: { enabled: true }, replicaCount: 1 };

/** An ACME (Let's Encrypt) ClusterIssuer answering HTTP-01 through the ingress class. */
export function clusterIssuer(c: {
  name: string;
  className: string;
  email?: string;
  labels: Record<string, string>;
}) {
  return {
    metadata: { name: c.name, labels: c.labels },
    spec: {
      acme: {
        server: 'https://acme-v02.api.letsencrypt.org/directory',
        ...(c.email ? { email: c.email } : {}),
        privateKeySecretRef: { name: `${c.name}-account-key` },
        solvers: [{ http01: { ingress: { ingressClassName: c.className } } }],
      },
    },
  };
}
