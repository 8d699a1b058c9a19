/**
 * `clawstack:kubernetes.cluster: eks`: the cluster the workload then deploys into, in one `pulumi up`.
 * The AWS target's network design (VPC over two AZs, private subnets behind NAT, S3 gateway endpoint),
 * an EKS control plane with its logs and KMS-encrypted secrets, managed node groups per tier and
 * capacity, the add-ons the workload relies on (EBS CSI + gp3, Pod Identity, NVIDIA device plugin,
 * Cluster Autoscaler, ingress-nginx + cert-manager), and a Kubernetes provider for it. Plain
 * `@pulumi/aws` resources (no remote components), so every piece is visible in plans and tests.
 * Decisions live in ./nodes.ts, ./iam.ts and ./addons.ts; this file wires.
 */
import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Network } from '../../aws/network.ts';
import type { DeploymentSpec } from '../../types.ts';
import type { EksSpec } from '../eks-spec.ts';
import type { KubernetesSpec } from '../spec.ts';
import {
  AUTOSCALER_SERVICE_ACCOUNT,
  autoscalerValues,
  CHARTS,
  certManagerValues,
  clusterIssuer,
  devicePluginValues,
  EBS_CSI_SERVICE_ACCOUNT,
  eksKubeconfig,
  ingressNginxValues,
  ADDON_CONFIGURATION,
  MANAGED_ADDONS,
  storageClass,
} from './addons.ts';
import {
  autoscalerPolicy,
  clusterKmsPolicy,
  MANAGED_POLICIES,
  modelReadPolicy,
  podIdentityTrust,
  serviceTrust,
} from './iam.ts';
import { autoscalerTags, clusterName, launchTemplateSettings, nodeGroupPlans } from './nodes.ts';

/** Control-plane logs: every type EKS offers (the audit log answers "who changed this"). */
export const CONTROL_PLANE_LOGS = ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'];
export const CONTROL_PLANE_LOG_RETENTION_DAYS = 90;

export interface EksClusterArgs {
  spec: DeploymentSpec<KubernetesSpec>;
  eks: EksSpec;
  /** Labels for the cluster-wide Kubernetes objects this component declares. */
  labels: Record<string, string>;
  /** The app's ServiceAccount (namespace/name): it gets read access to an s3:// model source. */
  appServiceAccount: { namespace: string; name: string };
}

type Opts = { parent: pulumi.Resource };

export class EksCluster extends pulumi.ComponentResource {
  readonly clusterName: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  readonly provider: k8s.Provider;
  /** What the workload's objects wait for: storage class, ingress controller, issuer, autoscaler. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:kubernetes:EksCluster', name, {}, opts);
    const { spec, eks } = args;
    const parent = { parent: this };
    const tags = spec.tags;
    const cname = clusterName(spec.section.base);
    const region = aws.getRegionOutput({}, parent).region;
    const accountId = aws.getCallerIdentityOutput({}, parent).accountId;

    const network = new Network(
      `${name}-network`,
      {
        prefix: name,
        tags,
        cidr: eks.vpcCidr,
        allowedCidrs: spec.network.allowedCidrs,
        adminCidrs: spec.network.adminCidrs,
        nat: eks.nat,
        instanceIsEdge: false,
        subnetTags: {
          public: { 'kubernetes.io/role/elb': '1', [`kubernetes.io/cluster/${cname}`]: 'shared' },
          private: { 'kubernetes.io/role/internal-elb': '1', [`kubernetes.io/cluster/${cname}`]: 'shared' },
        },
      },
      parent,
    );
    const cluster = this.controlPlane(name, args, { cname, subnetIds: network.privateSubnetIds }, parent);
    const nodeGroups = this.nodeGroups(name, args, { cluster, subnetIds: network.privateSubnetIds }, parent);
    const addons = this.addons(name, args, { cluster, accountId, nodeGroups }, parent);

    const kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.certificateAuthority.data, region])
      .apply(([n, endpoint, caData, r]) =>
        JSON.stringify(eksKubeconfig({ name: n, endpoint, caData: caData ?? '', region: r })),
      );
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: pulumi.secret(kubeconfig) },
      { parent: this, dependsOn: [...nodeGroups, ...addons] },
    );
    this.ready = this.inCluster(name, args, { cname, region }, { parent: this, provider: this.provider });
    this.clusterName = cluster.name;
    this.endpoint = cluster.endpoint;
    this.registerOutputs({ clusterName: this.clusterName, endpoint: this.endpoint });
  }

  /** KMS key, log group, cluster role and the control plane in the private subnets. */
  private controlPlane(
    name: string,
    { spec, eks }: EksClusterArgs,
    c: { cname: string; subnetIds: pulumi.Output<string>[] },
    parent: Opts,
  ) {
    const tags = spec.tags;
    const key = new aws.kms.Key(
      `${name}-secrets-key`,
      {
        description: `${c.cname}: envelope encryption of Kubernetes secrets`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        tags,
      },
      parent,
    );
    new aws.kms.Alias(
      `${name}-secrets-key-alias`,
      { name: `alias/${c.cname}-secrets`, targetKeyId: key.keyId },
      parent,
    );
    // Created before the cluster so EKS writes into a group with a retention, not an unbounded one.
    const logs = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `/aws/eks/${c.cname}/cluster`, retentionInDays: CONTROL_PLANE_LOG_RETENTION_DAYS, tags },
      parent,
    );
    const role = new aws.iam.Role(
      `${name}-cluster-role`,
      { assumeRolePolicy: JSON.stringify(serviceTrust('eks.amazonaws.com')), tags },
      parent,
    );
    const attachments = MANAGED_POLICIES.cluster.map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-cluster-policy-${i}`,
          { role: role.name, policyArn },
          parent,
        ),
    );
    const kms = new aws.iam.RolePolicy(
      `${name}-cluster-kms`,
      { role: role.id, policy: pulumi.jsonStringify(clusterKmsPolicy(key.arn)) },
      parent,
    );
    return new aws.eks.Cluster(
      `${name}-control-plane`,
      {
        name: c.cname,
        version: eks.version,
        roleArn: role.arn,
        vpcConfig: {
          subnetIds: c.subnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: eks.endpoint.access === 'public',
          ...(eks.endpoint.access === 'public' ? { publicAccessCidrs: eks.endpoint.publicAccessCidrs } : {}),
        },
        enabledClusterLogTypes: CONTROL_PLANE_LOGS,
        encryptionConfig: { provider: { keyArn: key.arn }, resources: ['secrets'] },
        accessConfig: { authenticationMode: 'API', bootstrapClusterCreatorAdminPermissions: true },
        tags,
      },
      { parent: this, dependsOn: [logs, kms, ...attachments] },
    );
  }

  /** The node role, then one launch template + managed node group per plan (./nodes.ts). */
  private nodeGroups(
    name: string,
    { spec, eks }: EksClusterArgs,
    c: { cluster: aws.eks.Cluster; subnetIds: pulumi.Output<string>[] },
    parent: Opts,
  ): aws.eks.NodeGroup[] {
    const tags = spec.tags;
    const role = new aws.iam.Role(
      `${name}-node-role`,
      { assumeRolePolicy: JSON.stringify(serviceTrust('ec2.amazonaws.com')), tags },
      parent,
    );
    const attachments = MANAGED_POLICIES.node.map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(`${name}-node-policy-${i}`, { role: role.name, policyArn }, parent),
    );
    const cname = clusterName(spec.section.base);
    return nodeGroupPlans(spec.tier, spec.capacity, eks).map((plan) => {
      const lt = new aws.ec2.LaunchTemplate(
        `${name}-${plan.role}-lt`,
        {
          ...launchTemplateSettings(plan),
          updateDefaultVersion: true,
          tagSpecifications: ['instance', 'volume'].map((resourceType) => ({
            resourceType,
            tags: { ...tags, Name: `${cname}-${plan.role}` },
          })),
          tags,
        },
        parent,
      );
      return new aws.eks.NodeGroup(
        `${name}-${plan.role}-nodes`,
        {
          clusterName: c.cluster.name,
          nodeRoleArn: role.arn,
          subnetIds: c.subnetIds,
          instanceTypes: plan.instanceTypes,
          capacityType: plan.capacityType,
          amiType: plan.amiType,
          labels: plan.labels,
          taints: plan.taints,
          scalingConfig: plan.scaling,
          updateConfig: { maxUnavailable: 1 },
          launchTemplate: { id: lt.id, version: lt.latestVersion.apply(String) },
          tags: { ...tags, ...autoscalerTags(cname, plan) },
        },
        // The Cluster Autoscaler owns the desired size once the group exists.
        { parent: this, dependsOn: attachments, ignoreChanges: ['scalingConfig.desiredSize'] },
      );
    });
  }

  /** Managed add-ons, and the Pod Identity roles of the EBS CSI driver, the autoscaler and the app. */
  private addons(
    name: string,
    args: EksClusterArgs,
    c: { cluster: aws.eks.Cluster; accountId: pulumi.Output<string>; nodeGroups: aws.eks.NodeGroup[] },
    parent: Opts,
  ): aws.eks.Addon[] {
    const tags = args.spec.tags;
    const podRole = (suffix: string, managed: readonly string[], inline?: pulumi.Input<string>) => {
      const role = new aws.iam.Role(
        `${name}-${suffix}-role`,
        { assumeRolePolicy: pulumi.jsonStringify(podIdentityTrust(c.accountId)), tags },
        parent,
      );
      managed.forEach(
        (policyArn, i) =>
          new aws.iam.RolePolicyAttachment(
            `${name}-${suffix}-policy-${i}`,
            { role: role.name, policyArn },
            parent,
          ),
      );
      if (inline)
        new aws.iam.RolePolicy(`${name}-${suffix}-inline`, { role: role.id, policy: inline }, parent);
      return role;
    };
    const associate = (suffix: string, role: aws.iam.Role, namespace: string, serviceAccount: string) =>
      new aws.eks.PodIdentityAssociation(
        `${name}-${suffix}-identity`,
        { clusterName: c.cluster.name, namespace, serviceAccount, roleArn: role.arn, tags },
        parent,
      );

    const ebsRole = podRole('ebs-csi', MANAGED_POLICIES.ebsCsi);
    const cname = clusterName(args.spec.section.base);
    associate(
      'autoscaler',
      podRole('autoscaler', [], JSON.stringify(autoscalerPolicy(cname))),
      'kube-system',
      AUTOSCALER_SERVICE_ACCOUNT,
    );
    const models = args.spec.section.models;
    if (models.fromObjectStorage)
      associate(
        'models',
        podRole('models', [], JSON.stringify(modelReadPolicy(models.source))),
        args.appServiceAccount.namespace,
        args.appServiceAccount.name,
      );

    return MANAGED_ADDONS.map(
      (addonName) =>
        new aws.eks.Addon(
          `${name}-addon-${addonName}`,
          {
            clusterName: c.cluster.name,
            addonName,
            resolveConflictsOnCreate: 'OVERWRITE',
            resolveConflictsOnUpdate: 'PRESERVE',
            ...(ADDON_CONFIGURATION[addonName]
              ? { configurationValues: JSON.stringify(ADDON_CONFIGURATION[addonName]) }
              : {}),
            ...(addonName === 'aws-ebs-csi-driver'
              ? {
                  podIdentityAssociations: [
                    { roleArn: ebsRole.arn, serviceAccount: EBS_CSI_SERVICE_ACCOUNT },
                  ],
                }
              : {}),
            tags,
          },
          // CoreDNS and the CSI controller are Deployments: they need nodes to become active.
          { parent: this, dependsOn: c.nodeGroups },
        ),
    );
  }

  /** Kubernetes objects through the new provider: gp3 class, device plugin, autoscaler, ingress, issuer. */
  private inCluster(
    name: string,
    { spec, eks, labels }: EksClusterArgs,
    c: { cname: string; region: pulumi.Output<string> },
    o: pulumi.CustomResourceOptions,
  ): pulumi.Resource[] {
    const k = spec.section;
    const release = (
      suffix: string,
      ref: (typeof CHARTS)[keyof typeof CHARTS],
      namespace: string,
      values: pulumi.Inputs,
    ) =>
      new k8s.helm.v3.Release(
        `${name}-${suffix}`,
        {
          name: ref.chart,
          chart: ref.chart,
          version: ref.version,
          repositoryOpts: { repo: ref.repo },
          namespace,
          createNamespace: namespace !== 'kube-system',
          values,
          atomic: true,
        },
        o,
      );
    const sc = new k8s.storage.v1.StorageClass(`${name}-gp3`, storageClass(labels), o);
    if (spec.tier.gpu)
      release('nvidia-device-plugin', CHARTS.nvidiaDevicePlugin, 'kube-system', devicePluginValues());
    const autoscaler = release(
      'cluster-autoscaler',
      CHARTS.autoscaler,
      'kube-system',
      c.region.apply((region) => autoscalerValues({ cluster: c.cname, region, version: eks.version })),
    );
    const ingress = release(
      'ingress-nginx',
      CHARTS.ingressNginx,
      k.ingress.namespace,
      ingressNginxValues({ className: k.ingress.className, allowedCidrs: spec.network.allowedCidrs }),
    );
    const certManager = release('cert-manager', CHARTS.certManager, 'cert-manager', certManagerValues);
    const issuer = new k8s.apiextensions.CustomResource(
      `${name}-cluster-issuer`,
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'ClusterIssuer',
        ...clusterIssuer({
          name: k.ingress.clusterIssuer,
          className: k.ingress.className,
          email: spec.tls.acmeEmail,
          labels,
        }),
      },
      { ...o, dependsOn: [certManager] },
    );
    return [sc, autoscaler, ingress, issuer];
  }
}
