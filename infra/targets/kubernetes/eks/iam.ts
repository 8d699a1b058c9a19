/**
 * IAM documents of the EKS cluster: who may assume each role, and the least each role may do. Pure
 * (values are plain or Pulumi inputs; ./cluster.ts stringifies them).
 */
import type * as pulumi from '@pulumi/pulumi';

type In<T> = pulumi.Input<T>;

/** AWS managed policies the cluster and node roles need (nothing broader). */
export const MANAGED_POLICIES = {
  cluster: ['arn:aws:iam::aws:policy/AmazonEKSClusterPolicy'],
  node: [
    'arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy',
    'arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy',
    // Pull only (no ListImages/DescribeRepositories as in ...ReadOnly).
    'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly',
  ],
  ebsCsi: ['arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy'],
} as const;

/** Trust: one AWS service assumes the role (EKS also tags the session). */
export function serviceTrust(service: 'eks.amazonaws.com' | 'ec2.amazonaws.com') {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: service },
        Action: service === 'eks.amazonaws.com' ? ['sts:AssumeRole', 'sts:TagSession'] : ['sts:AssumeRole'],
      },
    ],
  };
}

/** Trust for EKS Pod Identity: the agent assumes the role for pods of this account's clusters only. */
export function podIdentityTrust(accountId: In<string>) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'pods.eks.amazonaws.com' },
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Condition: { StringEquals: { 'aws:SourceAccount': accountId } },
      },
    ],
  };
}

/** The cluster role uses the secrets key for envelope encryption, and nothing else of KMS. */
export function clusterKmsPolicy(keyArn: In<string>) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey', 'kms:ListGrants'],
        Resource: keyArn,
      },
      {
        Effect: 'Allow',
        Action: 'kms:CreateGrant',
        Resource: keyArn,
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
    ],
  };
}

/** `s3://bucket/prefix` → bucket and key prefix (no leading or trailing slash). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, '') };
}

/** The app reads (get and list) the models under its prefix of the bucket; no write, no other keys. */
export function modelReadPolicy(source: string) {
  const { bucket, prefix } = parseS3Url(source);
  const keys = prefix ? `${prefix}/*` : '*';
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/${keys}` },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: `arn:aws:s3:::${bucket}`,
        ...(prefix ? { Condition: { StringLike: { 's3:prefix': [prefix, `${prefix}/*`] } } } : {}),
      },
    ],
  };
}

/**
 * The Cluster Autoscaler (docs/aws: "Full Cluster Autoscaler features policy"): read the groups
 * anywhere, but change the size only of groups tagged as this cluster's.
 */
export function autoscalerPolicy(cluster: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeLaunchConfigurations',
          'autoscaling:DescribeScalingActivities',
          'autoscaling:DescribeTags',
          'ec2:DescribeImages',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:GetInstanceTypesFromInstanceRequirements',
          'eks:DescribeNodegroup',
        ],
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Action: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
        Resource: '*',
        Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${cluster}`]: 'owned' } },
      },
    ],
  };
}
