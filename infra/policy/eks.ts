/**
 * Rules for an EKS cluster a stack creates (`clawstack:kubernetes.cluster: eks`): the API endpoint is
 * public only to listed, non-world CIDRs; Kubernetes secrets are envelope-encrypted with KMS; the
 * control plane logs its API and audit trail; every managed node group boots from a launch template
 * (so the IMDSv2 and volume-encryption rules apply to its nodes). Values a preview does not know yet
 * (undefined) are not judged.
 */
import { asList, get, isWorld, type Rule } from './resource.ts';

const CLUSTER = 'aws:eks/cluster:Cluster';
const NODE_GROUP = 'aws:eks/nodeGroup:NodeGroup';
/** The control-plane logs a cluster must keep (who called the API, and what it changed). */
export const REQUIRED_CLUSTER_LOGS = ['api', 'audit', 'authenticator'];

const endpointRestricted: Rule = {
  name: 'eks-endpoint-restricted',
  description: 'A public EKS API endpoint admits listed admin CIDRs only (never the internet).',
  resource(r) {
    if (r.type !== CLUSTER || get(r.inputs, 'vpcConfig', 'endpointPublicAccess') !== true) return [];
    const cidrs = get(r.inputs, 'vpcConfig', 'publicAccessCidrs');
    if (cidrs === undefined || asList(cidrs).length === 0)
      return [
        `${r.name}: the public endpoint admits 0.0.0.0/0 by default; set vpcConfig.publicAccessCidrs to clawstack:adminCidrs (or make it private)`,
      ];
    return asList(cidrs).some(isWorld)
      ? [`${r.name}: publicAccessCidrs includes the internet; list the admin CIDRs only`]
      : [];
  },
};

const secretsEncrypted: Rule = {
  name: 'eks-secrets-encrypted',
  description: 'EKS clusters envelope-encrypt Kubernetes secrets with a KMS key.',
  resource(r) {
    if (r.type !== CLUSTER) return [];
    const config = get(r.inputs, 'encryptionConfig');
    const ok =
      asList(get(config, 'resources')).includes('secrets') && get(config, 'provider', 'keyArn') !== '';
    return ok
      ? []
      : [`${r.name}: set encryptionConfig { provider.keyArn: <KMS key>, resources: ["secrets"] }`];
  },
};

const controlPlaneLogs: Rule = {
  name: 'eks-control-plane-logs',
  description: `EKS clusters send the ${REQUIRED_CLUSTER_LOGS.join(', ')} control-plane logs to CloudWatch.`,
  resource(r) {
    if (r.type !== CLUSTER) return [];
    const logs = asList(r.inputs.enabledClusterLogTypes);
    const missing = REQUIRED_CLUSTER_LOGS.filter((t) => !logs.includes(t));
    return missing.length ? [`${r.name}: add ${missing.join(', ')} to enabledClusterLogTypes`] : [];
  },
};

const nodeLaunchTemplate: Rule = {
  name: 'eks-nodes-launch-template',
  description:
    'EKS managed node groups use a launch template (IMDSv2 required, encrypted root volume: checked on the template).',
  resource(r) {
    if (r.type !== NODE_GROUP || r.inputs.launchTemplate !== undefined) return [];
    return [
      `${r.name}: no launchTemplate; EKS's default template leaves IMDS hop limit 2 for every pod and the volume as the AMI says — give it one with httpTokens required and an encrypted volume`,
    ];
  },
};

export const EKS_RULES: Rule[] = [endpointRestricted, secretsEncrypted, controlPlaneLogs, nodeLaunchTemplate];
