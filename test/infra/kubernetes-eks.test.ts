/**
 * `clawstack:kubernetes.cluster: eks` under Pulumi mocks: for every tier × capacity the node groups
 * (instance types, capacity type, AMI type, labels, taints) and a check that every workload pod can
 * be scheduled on them (node selectors, affinity, tolerations) and GPU pods only on GPU nodes; the
 * launch templates (IMDSv2, encrypted gp3), the control plane (logs, KMS, endpoint), IAM trust and
 * policies, add-ons and Pod Identity, the provider built from the new cluster, every Kubernetes
 * object schema-valid, and the config errors.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { checkStack } from '../../infra/policy/rules.ts';
import { parseSpec, StackConfigError } from '../../infra/spec/index.ts';
import { estimateCost } from '../../scripts/cost/estimate.ts';
import { loadPrices } from '../../scripts/cost/prices.ts';
import type { DeploymentSpec } from '../../infra/targets/index.ts';
import { CONTROL_PLANE_LOGS } from '../../infra/targets/kubernetes/eks/cluster.ts';
import { defaultNodeBounds } from '../../infra/targets/kubernetes/eks-spec.ts';
import { modelReadPolicy, parseS3Url } from '../../infra/targets/kubernetes/eks/iam.ts';
import type { KubernetesSpec } from '../../infra/targets/kubernetes/spec.ts';
import { CAPACITIES, TIER_NAMES, TIERS } from '../../infra/tiers.ts';
import type { Capacity, TierName } from '../../infra/tiers.ts';
import { ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { kubernetesConfig } from './conformance/kubernetes.ts';
import { schemaErrors } from './kubernetes-schemas.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = {
  cluster: 'aws:eks/cluster:Cluster',
  nodeGroup: 'aws:eks/nodeGroup:NodeGroup',
  lt: 'aws:ec2/launchTemplate:LaunchTemplate',
  addon: 'aws:eks/addon:Addon',
  podIdentity: 'aws:eks/podIdentityAssociation:PodIdentityAssociation',
  role: 'aws:iam/role:Role',
  attach: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  inline: 'aws:iam/rolePolicy:RolePolicy',
  key: 'aws:kms/key:Key',
  release: 'kubernetes:helm.sh/v3:Release',
  deploy: 'kubernetes:apps/v1:Deployment',
  sts: 'kubernetes:apps/v1:StatefulSet',
  np: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
} as const;
const ADMIN = ['192.0.2.10/32'];
const MODELS = 's3://clawstack-models/models/v1';
const inp = (r: RecordedResource) => r.inputs as Json;

function eksConfig(tier: TierName, capacity: Capacity, kubernetes: Json = {}, extra: Json = {}) {
  return kubernetesConfig(
    { tier, capacity, dataServices: 'colocated' },
    {
      'aws:region': 'eu-west-1',
      adminCidrs: ADMIN,
      ...extra,
      kubernetes: { cluster: 'eks', modelSource: MODELS, ...kubernetes },
    },
  );
}

async function run1(config: Json): Promise<ProgramRun> {
  const run = await runProgram(config);
  assert.equal(run.error, undefined, run.error?.message);
  return run;
}

/** A node as the scheduler sees it: the group's labels plus the capacity label EKS adds, and its taints. */
function nodeOf(ng: RecordedResource) {
  const i = inp(ng);
  return {
    name: ng.name,
    labels: { ...i.labels, 'eks.amazonaws.com/capacityType': i.capacityType } as Record<string, string>,
    taints: (i.taints ?? []).map((t: Json) => ({ ...t, effect: 'NoSchedule' })) as Json[],
  };
}

/** Does the pod spec's nodeSelector, required node affinity and tolerations admit this node? */
function schedulable(pod: Json, node: ReturnType<typeof nodeOf>): boolean {
  const labels = node.labels;
  const selectorOk = Object.entries(pod.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
  const terms: Json[] = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
    ?.nodeSelectorTerms ?? [{}];
  const exprOk = (e: Json) =>
    e.operator === 'In'
      ? e.values.includes(labels[e.key])
      : e.operator === 'NotIn'
        ? !(e.key in labels) || !e.values.includes(labels[e.key])
        : false;
  const affinityOk = terms.some((t) => (t.matchExpressions ?? []).every(exprOk));
  const tolerated = (taint: Json) =>
    (pod.tolerations ?? []).some(
      (tol: Json) =>
        tol.key === taint.key &&
        (!tol.effect || tol.effect === taint.effect) &&
        (tol.operator === 'Exists' || tol.value === taint.value),
    );
  return selectorOk && affinityOk && node.taints.every(tolerated);
}

for (const tier of TIER_NAMES)
  for (const capacity of CAPACITIES) {
    describe(`eks: ${tier} / ${capacity}`, () => {
      let run: ProgramRun;
      before(async () => {
        run = await run1(eksConfig(tier, capacity, { nodeMinSize: 2, nodeMaxSize: 7 }));
      });
      const t = TIERS[tier];
      const gpu = !!t.gpu;

      test("node groups: the tier's instance types on the capacity type, GPU group on the NVIDIA AMI with the GPU taint", () => {
        const groups = ofType(run, T.nodeGroup);
        assert.equal(groups.length, gpu ? 2 : 1);
        const app = one(run, T.nodeGroup, gpu ? '-gpu-nodes' : '-app-nodes');
        assert.deepEqual(inp(app).instanceTypes, t.aws.instanceTypes[capacity]);
        if (capacity === 'spot') assert.ok(inp(app).instanceTypes.length >= 4);
        for (const g of groups)
          assert.equal(inp(g).capacityType, capacity === 'spot' ? 'SPOT' : 'ON_DEMAND', g.name);
        assert.deepEqual(inp(app).scalingConfig, { minSize: 2, maxSize: 7, desiredSize: 2 });
        assert.ok(app.options.ignoreChanges.includes('scalingConfig.desiredSize'));
        if (gpu) {
          assert.equal(inp(app).amiType, 'AL2023_x86_64_NVIDIA');
          assert.deepEqual(inp(app).taints, [
            { key: 'nvidia.com/gpu', value: 'true', effect: 'NO_SCHEDULE' },
          ]);
          assert.equal(inp(app).labels['nvidia.com/gpu.present'], 'true');
          const system = one(run, T.nodeGroup, '-system-nodes');
          assert.equal(inp(system).amiType, 'AL2023_x86_64_STANDARD');
          assert.deepEqual(inp(system).instanceTypes, TIERS.general.aws.instanceTypes[capacity]);
          assert.deepEqual(inp(system).taints, []);
        } else {
          assert.equal(inp(app).amiType, 'AL2023_x86_64_STANDARD');
          assert.deepEqual(inp(app).taints, []);
        }
        for (const g of groups) {
          const tags = inp(g).tags;
          assert.equal(tags['k8s.io/cluster-autoscaler/enabled'], 'true');
          assert.equal(tags['k8s.io/cluster-autoscaler/clawstack-test-eks'], 'owned');
        }
        // Scale-from-minimum hints: what a new node of the group would carry.
        const hints = Object.entries(inp(app).tags).filter(([k]) => k.includes('/node-template/'));
        assert.deepEqual(
          Object.fromEntries(hints),
          gpu
            ? {
                'k8s.io/cluster-autoscaler/node-template/label/clawstack.io/node-role': 'gpu',
                'k8s.io/cluster-autoscaler/node-template/label/nvidia.com/gpu.present': 'true',
                'k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu': 'true:NoSchedule',
              }
            : { 'k8s.io/cluster-autoscaler/node-template/label/clawstack.io/node-role': 'app' },
        );
      });

      test('every workload pod fits a node group; GPU pods land only on GPU nodes, nothing else does', () => {
        const nodes = ofType(run, T.nodeGroup).map(nodeOf);
        const pods = [...ofType(run, T.deploy), ...ofType(run, T.sts)];
        assert.equal(pods.length, 4);
        for (const p of pods) {
          const pod = inp(p).spec.template.spec;
          const wantsGpu = pod.containers[0].resources.limits['nvidia.com/gpu'] !== undefined;
          const fits = nodes.filter((n) => schedulable(pod, n)).map((n) => n.name);
          assert.ok(fits.length > 0, `${p.name} fits no node group`);
          if (gpu)
            assert.deepEqual(
              fits.map((n) => n.endsWith('-gpu-nodes')),
              fits.map(() => wantsGpu),
              `${p.name}: ${fits.join(', ')}`,
            );
        }
        // The checker can say no: a spot pod does not fit an on-demand node and vice versa.
        const flipped = {
          ...nodes[0]!,
          labels: {
            ...nodes[0]!.labels,
            'eks.amazonaws.com/capacityType': capacity === 'spot' ? 'ON_DEMAND' : 'SPOT',
          },
        };
        const api = inp(one(run, T.deploy, '-api')).spec.template.spec;
        assert.equal(schedulable(api, flipped), false);
      });

      test('launch templates: IMDSv2 required with hop limit 1, encrypted gp3 root volume of the tier size, no AMI', () => {
        const lts = ofType(run, T.lt);
        assert.equal(lts.length, gpu ? 2 : 1);
        for (const lt of lts) {
          const i = inp(lt);
          assert.equal(i.metadataOptions.httpTokens, 'required');
          assert.equal(i.metadataOptions.httpPutResponseHopLimit, 1);
          const ebs = i.blockDeviceMappings[0].ebs;
          assert.deepEqual([ebs.volumeType, ebs.encrypted], ['gp3', 'true']);
          assert.equal(i.imageId, undefined);
          assert.equal(i.userData, undefined);
        }
        const own = one(run, T.lt, gpu ? '-gpu-lt' : '-app-lt');
        assert.equal(inp(own).blockDeviceMappings[0].ebs.volumeSize, t.aws.rootVolumeGb);
        for (const g of ofType(run, T.nodeGroup)) assert.match(inp(g).launchTemplate.id, /^lt-0/);
      });

      test('every Kubernetes object conforms to its schema (Kubernetes OpenAPI, cert-manager CRD)', async () => {
        const objects = run.resources.filter(
          (r) => r.custom && r.type.startsWith('kubernetes:') && r.type !== T.release,
        );
        const errors = (await Promise.all(objects.map(schemaErrors))).flat();
        assert.deepEqual(errors, []);
        // The NVIDIA device plugin (a chart) runs on GPU stacks only, on the GPU group's nodes.
        const plugin = ofType(run, T.release).find((r) => inp(r).chart === 'nvidia-device-plugin');
        assert.equal(!!plugin, gpu);
        if (plugin) {
          const node = nodeOf(one(run, T.nodeGroup, '-gpu-nodes'));
          assert.equal(schedulable(inp(plugin).values, node), true);
          assert.equal(
            schedulable(inp(plugin).values, nodeOf(one(run, T.nodeGroup, '-system-nodes'))),
            false,
          );
        }
      });
    });
  }

describe('eks: control plane, IAM, add-ons and the provider (general / spot)', () => {
  let run: ProgramRun;
  before(async () => {
    run = await run1(eksConfig('general', 'spot'));
  });
  const roleOf = (suffix: string) => one(run, T.role, `-${suffix}-role`);
  const trust = (r: RecordedResource) => JSON.parse(String(inp(r).assumeRolePolicy));
  const attached = (role: string) =>
    ofType(run, T.attach)
      .filter((a) => a.name.includes(`-${role}-policy-`))
      .map((a) => inp(a).policyArn)
      .sort();
  const inline = (suffix: string) => JSON.parse(String(inp(one(run, T.inline, `-${suffix}`)).policy));

  test('the cluster: private subnets, endpoint public to adminCidrs only, all control-plane logs, secrets encrypted with a rotating KMS key', () => {
    const c = inp(one(run, T.cluster));
    assert.equal(c.name, 'clawstack-test-eks');
    assert.equal(c.vpcConfig.endpointPublicAccess, true);
    assert.equal(c.vpcConfig.endpointPrivateAccess, true);
    assert.deepEqual(c.vpcConfig.publicAccessCidrs, ADMIN);
    const privateIds = ofType(run, 'aws:ec2/subnet:Subnet')
      .filter((s) => s.name.includes('-private-'))
      .map((s) => s.id);
    assert.deepEqual(c.vpcConfig.subnetIds, privateIds);
    assert.deepEqual(c.enabledClusterLogTypes, CONTROL_PLANE_LOGS);
    assert.equal(CONTROL_PLANE_LOGS.length, 5);
    const key = one(run, T.key);
    assert.equal(inp(key).enableKeyRotation, true);
    assert.deepEqual(c.encryptionConfig, {
      provider: { keyArn: `arn:aws:kms:eu-west-1:123456789012:key/${key.id}` },
      resources: ['secrets'],
    });
    const logs = one(run, 'aws:cloudwatch/logGroup:LogGroup', '-logs');
    assert.equal(inp(logs).name, '/aws/eks/clawstack-test-eks/cluster');
    assert.ok(one(run, T.cluster).options.dependsOn.includes(logs.urn));
    // Private nodes: the group runs in the private subnets, whose default route is the NAT.
    for (const g of ofType(run, T.nodeGroup)) assert.deepEqual(inp(g).subnetIds, privateIds);
    assert.equal(ofType(run, 'aws:ec2/natGateway:NatGateway').length, 1);
    assert.equal(one(run, 'aws:ec2/vpc:Vpc').inputs.cidrBlock, '10.40.0.0/16');
    const pub = ofType(run, 'aws:ec2/subnet:Subnet').find((s) => s.name.includes('-public-'))!;
    assert.equal(inp(pub).tags['kubernetes.io/role/elb'], '1');
  });

  test('IAM: each role trusts one principal and gets only its policies; bucket read scoped to the model prefix', () => {
    assert.deepEqual(trust(roleOf('cluster')).Statement[0].Principal, { Service: 'eks.amazonaws.com' });
    assert.deepEqual(trust(roleOf('node')).Statement[0].Principal, { Service: 'ec2.amazonaws.com' });
    assert.deepEqual(attached('cluster'), ['arn:aws:iam::aws:policy/AmazonEKSClusterPolicy']);
    assert.deepEqual(attached('node'), [
      'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly',
      'arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy',
      'arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy',
    ]);
    for (const suffix of ['ebs-csi', 'autoscaler', 'models']) {
      const st = trust(roleOf(suffix)).Statement[0];
      assert.deepEqual(st.Principal, { Service: 'pods.eks.amazonaws.com' }, suffix);
      assert.deepEqual(st.Condition, { StringEquals: { 'aws:SourceAccount': '123456789012' } });
    }
    assert.deepEqual(attached('ebs-csi'), ['arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy']);
    assert.deepEqual(attached('models'), []);
    const models: Json = inline('models-inline');
    assert.deepEqual(models.Statement[0], {
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::clawstack-models/models/v1/*',
    });
    assert.deepEqual(models.Statement[1].Condition, {
      StringLike: { 's3:prefix': ['models/v1', 'models/v1/*'] },
    });
    assert.deepEqual(models, modelReadPolicy(MODELS));
    const scaler = inline('autoscaler-inline');
    assert.deepEqual(scaler.Statement[1].Condition, {
      StringEquals: { 'aws:ResourceTag/k8s.io/cluster-autoscaler/clawstack-test-eks': 'owned' },
    });
    const kms = inline('cluster-kms');
    assert.ok(kms.Statement.every((s: Json) => String(s.Resource).startsWith('arn:aws:kms:')));
  });

  test('add-ons and Pod Identity: the VPC CNI enforcing NetworkPolicies, EBS CSI with its role, the agent, the app ServiceAccount reads the bucket, autoscaler in kube-system', () => {
    const addons = ofType(run, T.addon)
      .map((a) => inp(a).addonName)
      .sort();
    assert.deepEqual(addons, [
      'aws-ebs-csi-driver',
      'coredns',
      'eks-pod-identity-agent',
      'kube-proxy',
      'vpc-cni',
    ]);
    // The VPC CNI enforces the NetworkPolicies only with its network policy agent turned on.
    const cni = ofType(run, T.addon).find((a) => inp(a).addonName === 'vpc-cni')!;
    assert.deepEqual(JSON.parse(inp(cni).configurationValues), { enableNetworkPolicy: 'true' });
    assert.ok(ofType(run, T.np).length > 0);
    const ebs = ofType(run, T.addon).find((a) => inp(a).addonName === 'aws-ebs-csi-driver')!;
    assert.deepEqual(inp(ebs).podIdentityAssociations, [
      {
        roleArn: inp(roleOf('ebs-csi')).arn ?? inp(ebs).podIdentityAssociations[0].roleArn,
        serviceAccount: 'ebs-csi-controller-sa',
      },
    ]);
    assert.match(inp(ebs).podIdentityAssociations[0].roleArn, /:role\/clawstack-test-eks-ebs-csi-role/);
    const assoc = ofType(run, T.podIdentity).map((a) => [inp(a).namespace, inp(a).serviceAccount]);
    const api = inp(one(run, T.deploy, '-api'));
    assert.deepEqual(assoc.sort(), [
      ['clawstack-test', api.spec.template.spec.serviceAccountName],
      ['kube-system', 'cluster-autoscaler'],
    ]);
    // The app's pods may reach the Pod Identity agent (the namespace denies all egress by default).
    const np = ofType(run, T.np).find((p) => p.name.endsWith('-object-storage'))!;
    assert.deepEqual(inp(np).spec.egress[1], {
      to: [{ ipBlock: { cidr: '169.254.170.23/32' } }],
      ports: [{ protocol: 'TCP', port: 80 }],
    });
  });

  test('in the cluster: default gp3 class for the data PVCs, autoscaler discovering this cluster, ingress-nginx TLS 1.2+ behind an NLB, an ACME issuer', () => {
    const sc = inp(one(run, 'kubernetes:storage.k8s.io/v1:StorageClass'));
    assert.equal(sc.metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true');
    assert.deepEqual(sc.parameters, { type: 'gp3', encrypted: 'true', 'csi.storage.k8s.io/fstype': 'ext4' });
    for (const s of ofType(run, T.sts))
      assert.equal(inp(s).spec.volumeClaimTemplates[0].spec.storageClassName, sc.metadata.name);
    const release = (chart: string) => inp(ofType(run, T.release).find((r) => inp(r).chart === chart)!);
    const ca = release('cluster-autoscaler');
    assert.equal(ca.namespace, 'kube-system');
    assert.equal(ca.values.autoDiscovery.clusterName, 'clawstack-test-eks');
    assert.equal(ca.values.awsRegion, 'eu-west-1');
    assert.equal(ca.values.rbac.serviceAccount.name, 'cluster-autoscaler');
    const nginx = release('ingress-nginx');
    assert.equal(nginx.values.controller.config['ssl-protocols'], 'TLSv1.2 TLSv1.3');
    assert.equal(nginx.values.controller.ingressClassResource.name, 'nginx');
    assert.deepEqual(nginx.values.controller.service.loadBalancerSourceRanges, [
      '203.0.113.0/24',
      '198.51.100.0/24',
    ]);
    assert.equal(release('cert-manager').values.crds.enabled, true);
    const issuer = one(run, 'kubernetes:cert-manager.io/v1:ClusterIssuer');
    assert.equal(inp(issuer).metadata.name, 'letsencrypt-prod');
    const ns = one(run, 'kubernetes:core/v1:Namespace');
    const waitsFor = (r: RecordedResource, on: RecordedResource) => r.options.dependsOn.includes(on.urn);
    const certManager = ofType(run, T.release).find((r) => inp(r).chart === 'cert-manager')!;
    assert.ok(waitsFor(issuer, certManager));
    for (const r of [...ofType(run, T.release).filter((r) => r !== certManager), issuer])
      assert.ok(waitsFor(ns, r), r.name);
  });

  test('the provider: kubeconfig of the new cluster (secret), token from aws eks get-token, waits for nodes and add-ons', () => {
    const providers = ofType(run, 'pulumi:providers:kubernetes');
    assert.equal(providers.length, 1);
    const p = providers[0]!;
    assert.ok(p.secrets.includes('kubeconfig'));
    const kc = JSON.parse(String(p.inputs.kubeconfig));
    const c = one(run, T.cluster);
    assert.match(kc.clusters[0].cluster.server, /^https:\/\/.*\.eks\.amazonaws\.com$/);
    assert.deepEqual(kc.users[0].user.exec.args, [
      'eks',
      'get-token',
      '--cluster-name',
      'clawstack-test-eks',
      '--region',
      'eu-west-1',
      '--output',
      'json',
    ]);
    assert.equal(kc.users[0].user.exec.command, 'aws');
    assert.ok(!JSON.stringify(kc).includes('token:'));
    for (const dep of [...ofType(run, T.nodeGroup), ...ofType(run, T.addon)])
      assert.ok(p.options.dependsOn.includes(dep.urn), dep.name);
    assert.equal(c.id, 'clawstack-test-eks');
  });
});

describe('eks: a private endpoint, per-AZ NAT, a baked-in model source', () => {
  test('endpoint private: no public access, no CIDRs; adminCidrs not needed; two NAT gateways; no bucket role', async () => {
    const run = await run1(
      eksConfig(
        'lightweight',
        'on-demand',
        { endpointAccess: 'private', natGateways: 'per-az', modelSource: undefined },
        { adminCidrs: undefined },
      ),
    );
    const c = inp(one(run, T.cluster));
    assert.equal(c.vpcConfig.endpointPublicAccess, false);
    assert.equal(c.vpcConfig.publicAccessCidrs, undefined);
    assert.equal(ofType(run, 'aws:ec2/natGateway:NatGateway').length, 2);
    assert.deepEqual(
      ofType(run, T.podIdentity).map((a) => inp(a).serviceAccount),
      ['cluster-autoscaler'],
    );
  });
});

describe('eks: clawstack:kubernetes.cluster rules', () => {
  const base = { target: 'kubernetes', domain: 'api.example.com', adminCidrs: ADMIN };
  const k8sOf = (raw: Json) => (parseSpec(raw, 'dev') as DeploymentSpec<KubernetesSpec>).section;
  const rejects = (raw: Json, key: RegExp, secret: string[] = []) =>
    assert.throws(
      () => parseSpec(raw, 'dev', new Set(secret)),
      (e: unknown) => e instanceof StackConfigError && key.test(e.key),
    );

  test('defaults: existing cluster (no eks part); eks gets 1.33, a public endpoint for adminCidrs, 10.40.0.0/16, one NAT, gp3', () => {
    assert.equal(k8sOf(base).cluster.eks, undefined);
    assert.equal(k8sOf(base).data.storageClass, undefined);
    const k = k8sOf({ ...base, kubernetes: { cluster: 'eks' } });
    assert.deepEqual(k.cluster.eks, {
      version: '1.33',
      endpoint: { access: 'public', publicAccessCidrs: ADMIN },
      vpcCidr: '10.40.0.0/16',
      nat: 'single',
      nodes: { min: 1, max: 10 },
    });
    assert.equal(k.data.storageClass, 'gp3');
    const general = k8sOf({ ...base, tier: 'general', maxSize: 6, kubernetes: { cluster: 'eks' } });
    assert.deepEqual(general.cluster.eks?.nodes, { min: 2, max: 6 });
  });

  test('default node bounds follow the HPA maximum (two processes per node)', () => {
    const common = parseSpec({ ...base, tier: 'gpu', maxSize: 4 }, 'dev');
    assert.deepEqual(defaultNodeBounds(common), { min: 1, max: 4 });
  });

  test('rejected, naming the key: eks-only keys with cluster existing, kubeconfig/context with eks, bad values, public endpoint without adminCidrs', () => {
    const eksOnly = {
      eksVersion: '1.33',
      endpointAccess: 'private',
      vpcCidr: '10.0.0.0/16',
      natGateways: 'single',
      nodeMinSize: 1,
      nodeMaxSize: 2,
    };
    for (const [key, value] of Object.entries(eksOnly)) {
      rejects({ ...base, kubernetes: { [key]: value } }, new RegExp(`^clawstack:kubernetes\\.${key}$`));
      rejects(
        { ...base, kubernetes: { cluster: 'existing', [key]: value } },
        new RegExp(`^clawstack:kubernetes\\.${key}$`),
      );
    }
    rejects(
      { ...base, kubernetes: { cluster: 'eks', kubeconfig: 'apiVersion: v1' } },
      /^clawstack:kubernetes\.kubeconfig$/,
      ['kubernetes'],
    );
    rejects({ ...base, kubernetes: { cluster: 'eks', context: 'prod' } }, /^clawstack:kubernetes\.context$/);
    rejects({ ...base, kubernetes: { cluster: 'gke' } }, /^clawstack:kubernetes\.cluster$/);
    rejects(
      { ...base, kubernetes: { cluster: 'eks', endpointAccess: 'internal' } },
      /^clawstack:kubernetes\.endpointAccess$/,
    );
    rejects(
      { ...base, kubernetes: { cluster: 'eks', eksVersion: '1.20' } },
      /^clawstack:kubernetes\.eksVersion$/,
    );
    rejects(
      { ...base, kubernetes: { cluster: 'eks', vpcCidr: '10.0.0.0/8' } },
      /^clawstack:kubernetes\.vpcCidr$/,
    );
    rejects(
      { ...base, kubernetes: { cluster: 'eks', nodeMinSize: 5, nodeMaxSize: 3 } },
      /^clawstack:kubernetes\.nodeMaxSize$/,
    );
    rejects({ ...base, adminCidrs: undefined, kubernetes: { cluster: 'eks' } }, /^clawstack:adminCidrs$/);
    assert.equal(
      k8sOf({ ...base, adminCidrs: undefined, kubernetes: { cluster: 'eks', endpointAccess: 'private' } })
        .cluster.eks?.endpoint.access,
      'private',
    );
  });

  test('a config error stops the program before any resource is declared', async () => {
    const run = await runProgram(eksConfig('general', 'on-demand', { endpointAccess: 'internal' }));
    assert.ok(run.error instanceof StackConfigError);
    assert.equal((run.error as StackConfigError).key, 'clawstack:kubernetes.endpointAccess');
    assert.deepEqual(
      run.resources.filter((r) => r.custom),
      [],
    );
  });

  test('s3:// URLs split into bucket and prefix', () => {
    assert.deepEqual(parseS3Url('s3://b/a/b/'), { bucket: 'b', prefix: 'a/b' });
    assert.deepEqual(parseS3Url('s3://b'), { bucket: 'b', prefix: '' });
    assert.ok(!('Condition' in modelReadPolicy('s3://b').Statement[1]!));
  });
});

describe('eks: policy pack and cost estimate', () => {
  test('every policy rule passes on cluster: eks for every tier (the EKS rules fire on bad resources in policy.test.ts)', async () => {
    for (const tier of TIER_NAMES) {
      const run = await run1(eksConfig(tier, 'spot'));
      assert.deepEqual(checkStack(run.resources), [], tier);
    }
  });

  test('cost: control plane $0.10/h + nodes by tier and capacity (spot factor), NLB, volumes; max bound from the node group', async () => {
    const p = loadPrices();
    const region = p.regions['eu-west-1']!;
    for (const capacity of CAPACITIES) {
      const run = await run1(eksConfig('gpu', capacity, { nodeMinSize: 1, nodeMaxSize: 3 }));
      const est = estimateCost(run.resources, { target: 'kubernetes', region: 'eu-west-1', table: p });
      assert.equal(est.notEstimated, undefined);
      const item = (re: RegExp) => est.lines.find((l) => re.test(l.item))!;
      assert.equal(item(/EKS control plane/).monthlyUsd, 0.1 * 730);
      const factor = capacity === 'spot' ? p.assumptions.spotFactor : 1;
      const types = TIERS.gpu.aws.instanceTypes[capacity];
      const mean = types.reduce((a, t) => a + region.ec2Hour[t]!, 0) / types.length;
      const gpuNodes = est.lines.find(
        (l) => l.resource.endsWith('-gpu-nodes') && l.item.startsWith('EKS nodes'),
      )!;
      assert.equal(gpuNodes.monthlyUsd.toFixed(2), (mean * factor * 730).toFixed(2));
      assert.ok(
        est.lines.every((l) => !l.unpriced),
        JSON.stringify(est.lines.filter((l) => l.unpriced)),
      );
      assert.ok(item(/NLB for ingress-nginx/).monthlyUsd > 0);
      assert.equal(item(/PVC postgres-data/).monthlyUsd, 20 * region.ebsGbMonth.gp3!);
      // Two more GPU nodes (compute + root volume) at the maximum.
      const perNode = gpuNodes.monthlyUsd + TIERS.gpu.aws.rootVolumeGb * region.ebsGbMonth.gp3!;
      assert.equal(
        (est.atMaxUsd - est.totalUsd).toFixed(2),
        (
          2 * perNode +
          2 *
            (est.lines.find((l) => l.resource.endsWith('-system-nodes') && l.item.startsWith('EKS nodes'))!
              .monthlyUsd +
              TIERS.general.aws.rootVolumeGb * region.ebsGbMonth.gp3!)
        ).toFixed(2),
      );
    }
    // Without a cluster, the kubernetes target still is not estimated.
    assert.match(
      estimateCost([], { target: 'kubernetes', region: 'eu-west-1', table: p }).notEstimated!,
      /existing cluster/,
    );
  });
});
