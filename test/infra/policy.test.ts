/**
 * The policy pack (infra/policy): every rule passes on every registered target (and variant, such as
 * `cluster: eks`) × tier plan and on the stack files, and each rule fires on a deliberately bad
 * resource with a message that names the resource and says what to change. The SDK wiring (policy
 * pack index) reports the same messages.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { checkStack, RULES } from '../../infra/policy/rules.ts';
import type { PolicyResource } from '../../infra/policy/rules.ts';
import { TARGET_NAMES } from '../../infra/targets/index.ts';
import { TIER_NAMES } from '../../infra/tiers.ts';
import { readStackConfig } from '../../scripts/plan/describe.ts';
import { runProgram } from '../../scripts/plan/harness.ts';
import { ADAPTERS } from './conformance/index.ts';
import type { Combination } from './conformance/types.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const LABELS = { project: 'clawstack', stack: 'test', tier: 'general', capacity: 'spot' };
const res = (type: string, inputs: Record<string, unknown>, name = 'bad'): PolicyResource => ({
  type,
  name,
  inputs,
  id: `${name}-id`,
});
/** Rules seen firing on a deliberately bad resource in this file (checked by the last test). */
const seenFiring = new Set<string>();
const fired = (r: PolicyResource[], rule: string) => {
  const messages = checkStack(r)
    .filter((v) => v.rule === rule)
    .map((v) => v.message);
  if (messages.length) seenFiring.add(rule);
  return messages;
};

describe('every rule passes on every target × tier plan', () => {
  const combos: Combination[] = TIER_NAMES.flatMap((tier) => [
    { tier, capacity: 'on-demand', dataServices: tier === 'lightweight' ? 'colocated' : 'managed' },
    { tier, capacity: 'spot', dataServices: 'colocated' },
  ]);
  test('every registered target has an adapter (variants such as cluster: eks are adapters of their own)', () =>
    assert.deepEqual(
      TARGET_NAMES.filter((t) => !ADAPTERS[t]),
      [],
    ));
  for (const [target, adapter] of Object.entries(ADAPTERS))
    for (const combo of combos)
      test(`${target}: ${combo.tier} × ${combo.capacity} × ${combo.dataServices}`, async () => {
        const run = await runProgram(adapter.config(combo), {
          secretKeys: adapter.secretKeys?.(combo) ?? [],
        });
        assert.equal(run.error, undefined, run.error?.message);
        assert.deepEqual(checkStack(run.resources), []);
      });

  const stacks = readdirSync(ROOT)
    .map((f) => /^Pulumi\.([\w-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s);
  for (const stack of stacks)
    test(`Pulumi.${stack}.yaml`, async () => {
      const run = await runProgram(readStackConfig(ROOT, stack), { stack });
      assert.equal(run.error, undefined, run.error?.message);
      assert.deepEqual(checkStack(run.resources), []);
    });
});

const bucket = res('aws:s3/bucket:Bucket', { tags: LABELS }, 'data');
const goodPolicy = JSON.stringify({
  Statement: [{ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }],
});
const companions = (overrides: Record<string, Record<string, unknown>> = {}): PolicyResource[] => [
  bucket,
  res('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock', {
    bucket: 'data-id',
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
    ...overrides.pab,
  }),
  res('aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', {
    bucket: 'data-id',
    rules: [{ status: 'Enabled', transitions: [{ days: 30, storageClass: 'GLACIER_IR' }] }],
    ...overrides.lifecycle,
  }),
  res('aws:s3/bucketPolicy:BucketPolicy', { bucket: 'data-id', policy: goodPolicy, ...overrides.policy }),
];

describe('S3 rules', () => {
  test('a bucket with all three companions passes', () => assert.deepEqual(checkStack(companions()), []));

  test('a bucket without companions: each S3 rule names the bucket and the missing resource', () => {
    assert.match(
      fired([bucket], 's3-public-access-blocked')[0]!,
      /bucket data has no aws\.s3\.BucketPublicAccessBlock/,
    );
    assert.match(fired([bucket], 's3-lifecycle-archives')[0]!, /bucket data has no lifecycle configuration/);
    assert.match(fired([bucket], 's3-deny-insecure-transport')[0]!, /bucket data has no bucket policy/);
  });

  test('a companion found through dependencies (a preview, where ids are unknown) counts', () => {
    const b = { ...bucket, id: undefined, urn: 'urn:bucket' };
    const rs = companions().map((r) =>
      r === bucket ? b : { ...r, inputs: { ...r.inputs, bucket: undefined }, dependencies: ['urn:bucket'] },
    );
    assert.deepEqual(checkStack(rs), []);
  });

  test('partial public access block, late archive, policy without the TLS deny', () => {
    assert.match(
      fired(companions({ pab: { restrictPublicBuckets: false } }), 's3-public-access-blocked')[0]!,
      /set restrictPublicBuckets to true/,
    );
    assert.match(
      fired(
        companions({ lifecycle: { rules: [{ transitions: [{ days: 90 }] }] } }),
        's3-lifecycle-archives',
      )[0]!,
      /after 90 days; archive within 30 \(clawstack:aws\.archiveAfterDays ≤ 30\)/,
    );
    assert.match(
      fired(
        companions({ lifecycle: { rules: [{ id: 'expire', expiration: { days: 5 } }] } }),
        's3-lifecycle-archives',
      )[0]!,
      /no enabled rule has a transition/,
    );
    assert.match(
      fired(
        companions({ policy: { policy: '{"Statement":[{"Effect":"Allow"}]}' } }),
        's3-deny-insecure-transport',
      )[0]!,
      /aws:SecureTransport/,
    );
  });
});

describe('network rules', () => {
  const ingress = (extra: Record<string, unknown>) =>
    res('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', { ipProtocol: 'tcp', ...extra });

  test('443 and 80 from the world pass; 9443 from the world and all traffic do not', () => {
    assert.deepEqual(checkStack([ingress({ fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' })]), []);
    assert.deepEqual(
      checkStack([ingress({ fromPort: 9443, toPort: 9443, cidrIpv4: '198.51.100.7/32' })]),
      [],
    );
    assert.match(
      fired(
        [ingress({ fromPort: 9443, toPort: 9443, cidrIpv4: '0.0.0.0/0' })],
        'no-world-open-ports-but-web',
      )[0]!,
      /bad: tcp\/9443 is open to the internet; only 80\/443 may be/,
    );
    assert.match(
      fired([ingress({ ipProtocol: '-1', cidrIpv6: '::/0' })], 'no-world-open-ports-but-web')[0]!,
      /all traffic is open to the internet/,
    );
    const inline = res('aws:ec2/securityGroup:SecurityGroup', {
      tags: LABELS,
      ingress: [{ protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrBlocks: ['0.0.0.0/0'] }],
    });
    assert.equal(fired([inline], 'no-world-open-ports-but-web').length, 1);
  });

  test('port 22: security group from any range, NACL allow without a prior deny, docker, NetworkPolicy', () => {
    assert.match(
      fired([ingress({ fromPort: 22, toPort: 22, cidrIpv4: '10.0.0.0/8' })], 'no-ssh')[0]!,
      /admits port 22 \(SSH\); remove it/,
    );
    const nacl = (entries: unknown[]) =>
      res('aws:ec2/networkAcl:NetworkAcl', { ingress: entries, tags: LABELS });
    const allowVpc = {
      ruleNo: 90,
      action: 'allow',
      protocol: '-1',
      cidrBlock: '10.42.0.0/16',
      fromPort: 0,
      toPort: 0,
    };
    const denySsh = {
      ruleNo: 50,
      action: 'deny',
      protocol: 'tcp',
      cidrBlock: '0.0.0.0/0',
      fromPort: 22,
      toPort: 22,
    };
    assert.deepEqual(fired([nacl([denySsh, allowVpc])], 'no-ssh'), []);
    assert.match(
      fired([nacl([allowVpc])], 'no-ssh')[0]!,
      /NACL rule 90 admits port 22 from 10\.42\.0\.0\/16; deny 22 before it/,
    );
    const docker = res('docker:index/container:Container', {
      ports: [{ internal: 22, external: 2222 }],
      labels: Object.entries(LABELS).map(([label, value]) => ({ label, value })),
    });
    assert.equal(fired([docker], 'no-ssh').length, 0, 'the external port is what is published');
    assert.equal(fired([docker], 'no-world-open-ports-but-web').length, 1);
    const np = res('kubernetes:networking.k8s.io/v1:NetworkPolicy', {
      metadata: { labels: LABELS },
      spec: { ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 22 }] }] },
    });
    assert.match(fired([np], 'no-ssh')[0]!, /ingress rule 0 admits port 22/);
  });

  test('NetworkPolicy and LoadBalancer Service open to the world beyond 80/443', () => {
    const np = (rule: unknown) =>
      res('kubernetes:networking.k8s.io/v1:NetworkPolicy', {
        metadata: { labels: LABELS },
        spec: { ingress: [rule] },
      });
    assert.deepEqual(
      fired(
        [np({ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 443 }] })],
        'no-world-open-ports-but-web',
      ),
      [],
    );
    assert.deepEqual(
      fired(
        [np({ from: [{ namespaceSelector: {} }], ports: [{ port: 8080 }] })],
        'no-world-open-ports-but-web',
      ),
      [],
    );
    assert.match(
      fired(
        [np({ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 8080 }] })],
        'no-world-open-ports-but-web',
      )[0]!,
      /admits port\(s\) 8080 from anywhere/,
    );
    assert.match(fired([np({})], 'no-world-open-ports-but-web')[0]!, /admits every port from anywhere/);
    const svc = res('kubernetes:core/v1:Service', {
      metadata: { labels: LABELS },
      spec: { type: 'LoadBalancer', ports: [{ port: 443 }, { port: 9090 }] },
    });
    assert.match(
      fired([svc], 'no-world-open-ports-but-web')[0]!,
      /LoadBalancer port 9090 is reachable from the internet/,
    );
  });
});

describe('TLS, IMDSv2, encryption, RDS, tags', () => {
  const listener = (inputs: Record<string, unknown>) =>
    res('aws:lb/listener:Listener', { tags: LABELS, ...inputs });

  test('listeners: old TLS policy and plain HTTP forward fire; a redirect passes', () => {
    assert.match(
      fired(
        [listener({ protocol: 'HTTPS', port: 443, sslPolicy: 'ELBSecurityPolicy-2016-08' })],
        'tls12-listeners',
      )[0]!,
      /ELBSecurityPolicy-2016-08 allows TLS < 1\.2; use ELBSecurityPolicy-TLS13-1-2-2021-06/,
    );
    assert.match(
      fired(
        [listener({ protocol: 'HTTP', port: 80, defaultActions: [{ type: 'forward' }] })],
        'tls12-listeners',
      )[0]!,
      /serves plain text; redirect it to HTTPS/,
    );
    assert.deepEqual(
      fired(
        [
          listener({
            protocol: 'HTTP',
            port: 80,
            defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS' } }],
          }),
        ],
        'tls12-listeners',
      ),
      [],
    );
  });

  test('ingress without TLS, with an uncovered host, with TLS 1.0 allowed', () => {
    const ing = (spec: unknown, annotations = {}) =>
      res('kubernetes:networking.k8s.io/v1:Ingress', { metadata: { labels: LABELS, annotations }, spec });
    assert.match(fired([ing({ rules: [{ host: 'a.example.com' }] })], 'tls12-listeners')[0]!, /no spec\.tls/);
    const tls = {
      tls: [{ hosts: ['a.example.com'], secretName: 's' }],
      rules: [{ host: 'a.example.com' }, { host: 'b.example.com' }],
    };
    assert.match(fired([ing(tls)], 'tls12-listeners')[0]!, /host b\.example\.com is not in spec\.tls/);
    const oneHost = { ...tls, rules: [{ host: 'a.example.com' }] };
    assert.deepEqual(
      fired(
        [ing(oneHost, { 'nginx.ingress.kubernetes.io/ssl-protocols': 'TLSv1.2 TLSv1.3' })],
        'tls12-listeners',
      ),
      [],
    );
    assert.match(
      fired(
        [ing(oneHost, { 'nginx.ingress.kubernetes.io/ssl-protocols': 'TLSv1 TLSv1.2' })],
        'tls12-listeners',
      )[0]!,
      /allows TLS < 1\.2/,
    );
  });

  test('IMDSv1, unencrypted volumes and databases, public RDS', () => {
    const lt = res('aws:ec2/launchTemplate:LaunchTemplate', {
      tags: LABELS,
      metadataOptions: { httpTokens: 'optional' },
      blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'false', volumeSize: 50 } }],
    });
    assert.match(fired([lt], 'imdsv2-required')[0]!, /httpTokens to "required"/);
    assert.match(fired([lt], 'storage-encrypted')[0]!, /block device \/dev\/xvda is not encrypted/);
    assert.equal(
      fired([res('aws:ebs/volume:Volume', { tags: LABELS, size: 20 })], 'storage-encrypted').length,
      1,
    );
    const db = res('aws:rds/instance:Instance', {
      tags: LABELS,
      storageEncrypted: false,
      publiclyAccessible: true,
    });
    assert.match(fired([db], 'storage-encrypted')[0]!, /storageEncrypted/);
    assert.match(fired([db], 'rds-not-public')[0]!, /publiclyAccessible is true; set it to false/);
  });

  test('missing tags on a cost-bearing AWS type, partial tags anywhere, k8s and docker labels', () => {
    assert.match(
      fired([res('aws:ec2/natGateway:NatGateway', {})], 'required-tags')[0]!,
      /missing tag\(s\) project, stack, tier, capacity/,
    );
    // The resources added with the log archive, snapshots, rotation and alarms cost money too.
    for (const type of [
      'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream',
      'aws:lambda/function:Function',
      'aws:dlm/lifecyclePolicy:LifecyclePolicy',
      'aws:cloudwatch/metricAlarm:MetricAlarm',
    ])
      assert.equal(fired([res(type, {})], 'required-tags').length, 1, type);
    assert.deepEqual(fired([res('aws:iam/rolePolicy:RolePolicy', {})], 'required-tags'), []);
    assert.match(
      fired([res('aws:sns/topic:Topic', { tags: { project: 'clawstack' } })], 'required-tags')[0]!,
      /stack, tier, capacity/,
    );
    assert.match(
      fired([res('kubernetes:core/v1:ConfigMap', { metadata: { labels: {} } })], 'required-tags')[0]!,
      /missing label\(s\)/,
    );
    assert.equal(fired([res('docker:index/network:Network', { labels: [] })], 'required-tags').length, 1);
  });
});

describe('Kubernetes pod security', () => {
  const container = {
    name: 'api',
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    },
    resources: { requests: { cpu: '500m', memory: '1280Mi' }, limits: { cpu: '1', memory: '1280Mi' } },
  };
  const deployment = (c: Record<string, unknown>, pod: Record<string, unknown> = {}) =>
    res(
      'kubernetes:apps/v1:Deployment',
      {
        metadata: { labels: LABELS },
        spec: { template: { spec: { containers: [c], ...pod } } },
      },
      'api',
    );

  test('a hardened container passes', () => assert.deepEqual(checkStack([deployment(container)]), []));

  test('root, writable root, no resources, privileged and hostPath each fire on their rule', () => {
    const root = {
      ...container,
      securityContext: { ...container.securityContext, runAsNonRoot: undefined, runAsUser: 0 },
    };
    assert.match(fired([deployment(root)], 'k8s-non-root')[0]!, /api\/api: runAsUser is 0/);
    const writable = {
      ...container,
      securityContext: { ...container.securityContext, readOnlyRootFilesystem: false },
    };
    assert.match(fired([deployment(writable)], 'k8s-read-only-root')[0]!, /readOnlyRootFilesystem: true/);
    assert.match(
      fired([deployment({ ...container, resources: { requests: { cpu: '1' } } })], 'k8s-resources-set')[0]!,
      /resources requests\.memory, limits\.cpu, limits\.memory not set/,
    );
    const priv = { ...container, securityContext: { ...container.securityContext, privileged: true } };
    assert.match(fired([deployment(priv)], 'k8s-no-privileged-or-hostpath')[0]!, /privileged is true/);
    assert.match(
      fired(
        [deployment(container, { volumes: [{ name: 'docker', hostPath: { path: '/var/run' } }] })],
        'k8s-no-privileged-or-hostpath',
      )[0]!,
      /hostPath volume\(s\) docker/,
    );
  });

  test('StatefulSet and CronJob pod specs are read too', () => {
    const sts = res('kubernetes:apps/v1:StatefulSet', {
      metadata: { labels: LABELS },
      spec: { template: { spec: { containers: [{ name: 'pg' }] } } },
    });
    assert.equal(fired([sts], 'k8s-non-root').length, 1);
    const cron = res('kubernetes:batch/v1:CronJob', {
      metadata: { labels: LABELS },
      spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'x' }] } } } } },
    });
    assert.equal(fired([cron], 'k8s-read-only-root').length, 1);
  });
});

describe('production stacks', () => {
  const prod = { ...LABELS, stack: 'prod' };
  const lb = (inputs: Record<string, unknown>, tags = prod) =>
    res('aws:lb/loadBalancer:LoadBalancer', { loadBalancerType: 'application', tags, ...inputs }, 'alb');
  const vpc = res('aws:ec2/vpc:Vpc', { cidrBlock: '10.42.0.0/16', tags: prod }, 'vpc');
  const flow = res('aws:ec2/flowLog:FlowLog', { vpcId: vpc.id, tags: prod }, 'flow');
  const logged = {
    accessLogs: { bucket: 'b', prefix: 'logs/prod/alb', enabled: true },
    enableDeletionProtection: true,
  };

  test('an ALB without access logs or deletion protection, and a VPC without a flow log, fire', () => {
    const messages = fired([lb({ enableDeletionProtection: false }), vpc], 'production-logs-and-protection');
    assert.equal(messages.length, 3);
    assert.match(messages[0]!, /^alb: turn on access logs \(clawstack:aws\.albAccessLogs\)/);
    assert.match(messages[1]!, /^alb: turn on deletion protection \(clawstack:aws\.albDeletionProtection\)/);
    assert.match(messages[2]!, /^VPC vpc has no flow log; turn on clawstack:aws\.flowLogs/);
  });

  test('logged and protected passes; other stacks are not judged', () => {
    assert.deepEqual(fired([lb(logged), vpc, flow], 'production-logs-and-protection'), []);
    assert.deepEqual(
      fired([lb({}, LABELS), { ...vpc, inputs: { tags: LABELS } }], 'production-logs-and-protection'),
      [],
    );
  });
});

describe('EKS rules (clawstack:kubernetes.cluster: eks)', () => {
  const good = {
    tags: LABELS,
    vpcConfig: { endpointPublicAccess: true, publicAccessCidrs: ['192.0.2.10/32'] },
    encryptionConfig: { provider: { keyArn: 'arn:aws:kms:eu-west-1:1:key/k' }, resources: ['secrets'] },
    enabledClusterLogTypes: ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'],
  };
  const cluster = (over: Record<string, unknown>) => [res('aws:eks/cluster:Cluster', { ...good, ...over })];

  test('public endpoint: CIDRs required and never the internet; a private endpoint passes', () => {
    assert.deepEqual(checkStack(cluster({})), []);
    assert.match(
      fired(cluster({ vpcConfig: { endpointPublicAccess: true } }), 'eks-endpoint-restricted')[0]!,
      /bad: .*publicAccessCidrs/,
    );
    const world = { endpointPublicAccess: true, publicAccessCidrs: ['0.0.0.0/0'] };
    assert.match(fired(cluster({ vpcConfig: world }), 'eks-endpoint-restricted')[0]!, /internet/);
    assert.deepEqual(
      fired(cluster({ vpcConfig: { endpointPublicAccess: false } }), 'eks-endpoint-restricted'),
      [],
    );
  });

  test('secrets encryption, control-plane logs, node launch template, encrypted EBS StorageClass', () => {
    assert.match(
      fired(cluster({ encryptionConfig: undefined }), 'eks-secrets-encrypted')[0]!,
      /bad: set encryptionConfig/,
    );
    assert.match(
      fired(cluster({ enabledClusterLogTypes: ['api'] }), 'eks-control-plane-logs')[0]!,
      /add audit, authenticator/,
    );
    assert.match(
      fired([res('aws:eks/nodeGroup:NodeGroup', { tags: LABELS })], 'eks-nodes-launch-template')[0]!,
      /bad: no launchTemplate/,
    );
    const sc = (encrypted?: string) => [
      res('kubernetes:storage.k8s.io/v1:StorageClass', {
        metadata: { labels: LABELS },
        provisioner: 'ebs.csi.aws.com',
        parameters: { type: 'gp3', ...(encrypted ? { encrypted } : {}) },
      }),
    ];
    assert.match(fired(sc(), 'storage-encrypted')[0]!, /parameters\.encrypted/);
    assert.deepEqual(checkStack(sc('true')), []);
  });
});

test('every rule fired on at least one deliberately bad resource above (names are unique)', () => {
  const names = RULES.map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  assert.equal(names.length, 19);
  assert.deepEqual(
    names.filter((n) => !seenFiring.has(n)),
    [],
  );
});
