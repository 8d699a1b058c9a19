/**
 * `clawstack:kubernetes.cluster: eks`: the keys that make the Kubernetes target provision its own EKS
 * cluster (network, control plane, node groups, add-ons) instead of using a kubeconfig. Pure; errors
 * name `clawstack:kubernetes.<key>` or the common key they concern.
 */
import { z } from 'zod';
import type { CommonSpec } from '../../spec/common.ts';
import { int, isCidr, PROJECT, StackConfigError } from '../../spec/schema.ts';

export const CLUSTER_MODES = ['existing', 'eks'] as const;
export const ENDPOINT_ACCESS = ['public', 'private'] as const;
/** The EKS version a new cluster gets unless `eksVersion` says otherwise. */
export const DEFAULT_EKS_VERSION = '1.33';
export const DEFAULT_VPC_CIDR = '10.40.0.0/16';
/** The StorageClass the cluster gets (gp3, encrypted, default class) and the data roles' PVCs use. */
export const EKS_STORAGE_CLASS = 'gp3';

export const EKS_KEYS = {
  cluster: {
    schema: z.enum(CLUSTER_MODES),
    allowed:
      'existing (a cluster from the kubeconfig, the default) | eks (this stack creates an EKS cluster)',
  },
  eksVersion: {
    schema: z.string().regex(/^1\.(2[89]|3\d)$/),
    allowed: `an EKS Kubernetes version from 1.28, e.g. ${DEFAULT_EKS_VERSION} (cluster: eks only)`,
  },
  endpointAccess: {
    schema: z.enum(ENDPOINT_ACCESS),
    allowed:
      'public (the API endpoint admits clawstack:adminCidrs only) | private (reachable from the VPC only) (cluster: eks only)',
  },
  vpcCidr: {
    schema: z
      .string()
      .refine((c) => isCidr(c) && Number(c.split('/')[1]) >= 16 && Number(c.split('/')[1]) <= 24),
    allowed: `an IPv4 CIDR from /16 to /24, e.g. ${DEFAULT_VPC_CIDR} (cluster: eks only)`,
  },
  natGateways: {
    schema: z.enum(['single', 'per-az']),
    allowed:
      'single (one NAT gateway) | per-az (one per AZ: egress survives an AZ outage) (cluster: eks only)',
  },
  nodeMinSize: {
    schema: int(1, 100),
    allowed: "an integer from 1 to 100: the tier's node group never shrinks below it (cluster: eks only)",
  },
  nodeMaxSize: {
    schema: int(1, 200),
    allowed:
      "an integer from 1 to 200, ≥ nodeMinSize: the Cluster Autoscaler never grows the tier's node group past it (cluster: eks only)",
  },
} as const;

/** Keys that only mean something when this stack creates the cluster (all but `cluster`). */
const EKS_ONLY = (Object.keys(EKS_KEYS) as (keyof typeof EKS_KEYS)[]).filter(
  (k): k is Exclude<keyof typeof EKS_KEYS, 'cluster'> => k !== 'cluster',
);

export interface EksSpec {
  version: string;
  endpoint: { access: 'public' | 'private'; publicAccessCidrs: string[] };
  vpcCidr: string;
  nat: 'single' | 'per-az';
  /** Bounds of the tier's node group (the GPU group on tier gpu). */
  nodes: { min: number; max: number };
}

type EksValues = {
  cluster?: (typeof CLUSTER_MODES)[number];
  eksVersion?: string;
  endpointAccess?: (typeof ENDPOINT_ACCESS)[number];
  vpcCidr?: string;
  natGateways?: 'single' | 'per-az';
  nodeMinSize?: number;
  nodeMaxSize?: number;
  kubeconfig?: string;
  context?: string;
};

const key = (k: string) => `${PROJECT}:kubernetes.${k}`;

/**
 * Default node bounds: on the tier's instance type two app processes fit one node (the catalog's
 * per-process share is half the machine), so the HPA's `max` pods per role need about `max` nodes.
 */
export function defaultNodeBounds(common: CommonSpec): { min: number; max: number } {
  const min = common.tier.name === 'general' ? 2 : 1;
  return { min, max: Math.max(min, common.scaling.max) };
}

/** The EKS part of the section, or undefined for `cluster: existing`. Throws StackConfigError. */
export function parseEksSpec(v: EksValues, common: CommonSpec): EksSpec | undefined {
  if ((v.cluster ?? 'existing') === 'existing') {
    const stray = EKS_ONLY.find((k) => v[k] !== undefined);
    if (stray)
      throw new StackConfigError(key(stray), v[stray], 'unset unless clawstack:kubernetes.cluster is eks');
    return undefined;
  }
  for (const k of ['kubeconfig', 'context'] as const)
    if (v[k] !== undefined)
      throw new StackConfigError(
        key(k),
        k === 'kubeconfig' ? '(hidden)' : v[k],
        'unset with clawstack:kubernetes.cluster eks (the stack builds the kubeconfig of the cluster it creates)',
      );
  const access = v.endpointAccess ?? 'public';
  if (access === 'public' && common.network.adminCidrs.length === 0)
    throw new StackConfigError(
      `${PROJECT}:adminCidrs`,
      [],
      'the CIDRs that may reach the EKS API endpoint, e.g. ["203.0.113.0/24"]',
      'clawstack:kubernetes.endpointAccess public admits only the admin CIDRs (or set endpointAccess: private)',
    );
  const defaults = defaultNodeBounds(common);
  const min = v.nodeMinSize ?? defaults.min;
  const max = v.nodeMaxSize ?? Math.max(min, defaults.max);
  if (max < min) throw new StackConfigError(key('nodeMaxSize'), max, `an integer ≥ nodeMinSize (${min})`);
  return {
    version: v.eksVersion ?? DEFAULT_EKS_VERSION,
    endpoint: { access, publicAccessCidrs: access === 'public' ? common.network.adminCidrs : [] },
    vpcCidr: v.vpcCidr ?? DEFAULT_VPC_CIDR,
    nat: v.natGateways ?? 'single',
    nodes: { min, max },
  };
}
