/**
 * The EKS node groups a tier and capacity mean, and the launch template every group boots from. Pure:
 * ./cluster.ts declares what these functions describe.
 *
 * The labels and taints here are the other half of the pod scheduling in ../pod.ts: spot pods require
 * `eks.amazonaws.com/capacityType: SPOT` (EKS sets it on managed nodes), GPU pods select
 * `nvidia.com/gpu.present: true` and tolerate the `nvidia.com/gpu` NoSchedule taint.
 */
import type { Capacity, TierSpec } from '../../../tiers.ts';
import { TIERS } from '../../../tiers.ts';
import type { EksSpec } from '../eks-spec.ts';

export type NodeGroupRole = 'app' | 'system' | 'gpu';

export interface NodeGroupPlan {
  role: NodeGroupRole;
  instanceTypes: string[];
  capacityType: 'ON_DEMAND' | 'SPOT';
  amiType: 'AL2023_x86_64_STANDARD' | 'AL2023_x86_64_NVIDIA';
  labels: Record<string, string>;
  taints: { key: string; value: string; effect: 'NO_SCHEDULE' }[];
  scaling: { minSize: number; maxSize: number; desiredSize: number };
  rootVolumeGb: number;
}

/** The GPU node label the tier's node selector asks for (../../../tiers.ts). */
export const GPU_LABEL = 'nvidia.com/gpu.present';
/** Every node group carries this label: which part of the stack it hosts. */
export const NODE_ROLE_LABEL = 'clawstack.io/node-role';
/** The system group on tier gpu: cluster add-ons and the data roles, never more than this. */
export const SYSTEM_NODES = { minSize: 1, maxSize: 3 } as const;

export const capacityType = (c: Capacity) => (c === 'spot' ? 'SPOT' : 'ON_DEMAND');

/** The cluster's name (the control-plane log group is named after it, so it is set, not generated). */
export const clusterName = (base: string) => `${base}-eks`;

/**
 * Tier lightweight/general: one group of the tier's instance types (several on spot, for capacity
 * diversity) that hosts everything. Tier gpu: a GPU group on the NVIDIA AMI, tainted so only GPU
 * pods land there, and a small CPU system group (general's instance types) for CoreDNS, the add-on
 * controllers and the data roles. Every group has the stack's capacity type: on spot the data roles
 * require a spot node too (../pod.ts), so an on-demand system group would leave them Pending.
 */
export function nodeGroupPlans(tier: TierSpec, capacity: Capacity, eks: EksSpec): NodeGroupPlan[] {
  const bounds = { minSize: eks.nodes.min, maxSize: eks.nodes.max, desiredSize: eks.nodes.min };
  const cpu = (role: NodeGroupRole, from: TierSpec, scaling: NodeGroupPlan['scaling']): NodeGroupPlan => ({
    role,
    instanceTypes: from.aws.instanceTypes[capacity],
    capacityType: capacityType(capacity),
    amiType: 'AL2023_x86_64_STANDARD',
    labels: { [NODE_ROLE_LABEL]: role },
    taints: [],
    scaling,
    rootVolumeGb: from.aws.rootVolumeGb,
  });
  if (!tier.gpu) return [cpu('app', tier, bounds)];
  const gpuLabels = Object.fromEntries(
    Object.entries(tier.kubernetes.nodeSelector[capacity]).filter(([k]) => k === GPU_LABEL),
  );
  return [
    cpu('system', TIERS.general, { ...SYSTEM_NODES, desiredSize: SYSTEM_NODES.minSize }),
    {
      role: 'gpu',
      instanceTypes: tier.aws.instanceTypes[capacity],
      capacityType: capacityType(capacity),
      amiType: 'AL2023_x86_64_NVIDIA',
      labels: { [NODE_ROLE_LABEL]: 'gpu', ...gpuLabels },
      // The tier's tolerations (Exists on nvidia.com/gpu) admit GPU pods; everything else stays off.
      taints: tier.kubernetes.tolerations.map((t) => ({ key: t.key, value: 'true', effect: 'NO_SCHEDULE' })),
      scaling: bounds,
      rootVolumeGb: tier.aws.rootVolumeGb,
    },
  ];
}

/**
 * Tags the Cluster Autoscaler's auto-discovery looks for, plus node-template hints (labels, taints)
 * so it can scale a group from its minimum knowing what a new node would carry.
 */
export function autoscalerTags(cluster: string, plan: NodeGroupPlan): Record<string, string> {
  const prefix = 'k8s.io/cluster-autoscaler';
  return {
    [`${prefix}/enabled`]: 'true',
    [`${prefix}/${cluster}`]: 'owned',
    ...Object.fromEntries(
      Object.entries(plan.labels).map(([k, v]) => [`${prefix}/node-template/label/${k}`, v]),
    ),
    ...Object.fromEntries(
      plan.taints.map((t) => [`${prefix}/node-template/taint/${t.key}`, `${t.value}:NoSchedule`]),
    ),
  };
}

/**
 * The launch template's settings: IMDSv2 only, with a hop limit of 1 so pods (one network hop
 * further) cannot read the node role's credentials — every pod that needs AWS gets its own role
 * through EKS Pod Identity; and an encrypted gp3 root volume of the tier's size. No AMI and no
 * user data: EKS picks the AMI from the group's amiType and bootstraps the node itself.
 */
export function launchTemplateSettings(plan: NodeGroupPlan) {
  return {
    metadataOptions: {
      httpEndpoint: 'enabled',
      httpTokens: 'required',
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: 'disabled',
    },
    blockDeviceMappings: [
      {
        deviceName: '/dev/xvda',
        ebs: {
          volumeSize: plan.rootVolumeGb,
          volumeType: 'gp3',
          encrypted: 'true',
          deleteOnTermination: 'true',
        },
      },
    ],
  };
}
