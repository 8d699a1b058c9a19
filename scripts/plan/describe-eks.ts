/**
 * Offline-plan lines for what `clawstack:kubernetes.cluster: eks` adds: the EKS control plane, node
 * groups and their launch templates, add-ons, Pod Identity, the KMS key, IAM roles, the provider built
 * from the new cluster, and the in-cluster add-ons (StorageClass, Helm releases, issuer).
 * Returns undefined for any other resource.
 */
import type { RecordedResource } from './harness.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const principal = (policy: string): string => {
  const doc = JSON.parse(policy) as Json;
  return String(doc.Statement?.[0]?.Principal?.Service ?? 'an account');
};

function nodeGroup(i: Json): string {
  const s = i.scalingConfig as Json;
  const taints = ((i.taints ?? []) as Json[]).map(
    (t) => `${String(t.key)}=${String(t.value)}:${String(t.effect)}`,
  );
  return `${String(i.capacityType)} ${(i.instanceTypes as string[]).join(', ')}, ${String(i.amiType)}, min ${String(s.minSize)} / max ${String(s.maxSize)}${taints.length ? `, taint ${taints.join(' ')}` : ''}, labels ${Object.entries(
    i.labels ?? {},
  )
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')}`;
}

function cluster(i: Json): string {
  const v = i.vpcConfig as Json;
  const endpoint = v.endpointPublicAccess
    ? `public endpoint from ${(v.publicAccessCidrs as string[]).join(',')}`
    : 'private endpoint only';
  return `EKS ${String(i.version)} "${String(i.name)}", ${endpoint}, logs ${(i.enabledClusterLogTypes as string[]).join(',')}, secrets ${i.encryptionConfig ? 'KMS-encrypted' : 'NOT ENVELOPE-ENCRYPTED'}`;
}

export function describeEks(r: RecordedResource): string | undefined {
  const i = r.inputs as Json;
  switch (r.type) {
    case 'aws:eks/cluster:Cluster':
      return cluster(i);
    case 'aws:eks/nodeGroup:NodeGroup':
      return nodeGroup(i);
    case 'aws:eks/addon:Addon':
      return `add-on ${String(i.addonName)}${i.podIdentityAssociations ? ` (pod identity: ${String(i.podIdentityAssociations[0].serviceAccount)})` : ''}`;
    case 'aws:eks/podIdentityAssociation:PodIdentityAssociation':
      return `ServiceAccount ${String(i.namespace)}/${String(i.serviceAccount)} → its IAM role`;
    case 'aws:kms/key:Key':
      return `KMS key, rotation ${i.enableKeyRotation ? 'on' : 'OFF'}, deletion window ${String(i.deletionWindowInDays)} d`;
    case 'aws:iam/role:Role':
      return `assumed by ${principal(String(i.assumeRolePolicy))}`;
    case 'aws:ec2/launchTemplate:LaunchTemplate': {
      if (i.imageId !== undefined) return undefined; // the AWS target's fleet (describe.ts)
      const ebs = i.blockDeviceMappings[0].ebs as Json;
      return `EKS nodes: IMDSv2 ${i.metadataOptions.httpTokens === 'required' ? 'required' : 'OPTIONAL'} (hop limit ${String(i.metadataOptions.httpPutResponseHopLimit)}), root ${String(ebs.volumeSize)} GB ${String(ebs.volumeType)}${ebs.encrypted === 'true' ? ' encrypted' : ' UNENCRYPTED'}`;
    }
    case 'pulumi:providers:kubernetes':
      return String(i.kubeconfig ?? '').includes('get-token')
        ? 'cluster created by this stack (kubeconfig with an `aws eks get-token` exec, secret)'
        : undefined;
    case 'kubernetes:helm.sh/v3:Release':
      return `Helm ${String(i.chart)} ${String(i.version)} in ${String(i.namespace)}`;
    case 'kubernetes:storage.k8s.io/v1:StorageClass':
      return `StorageClass ${String(i.metadata.name)} (${String(i.parameters.type)}, encrypted ${String(i.parameters.encrypted)}), default, reclaim ${String(i.reclaimPolicy)}`;
    case 'kubernetes:cert-manager.io/v1:ClusterIssuer':
      return `ClusterIssuer ${String(i.metadata.name)}: ACME ${String(i.spec.acme.server)}, HTTP-01`;
    default:
      return undefined;
  }
}
