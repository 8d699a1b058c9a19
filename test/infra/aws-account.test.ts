/**
 * What would break or misbehave on a real AWS account (issue 10), where the defect is visible in the
 * declared resources: supported Lambda runtime, an Auto Scaling group that neither blocks
 * `pulumi up` nor fights target tracking, the AMI resolved at launch, values AWS rejects refused as
 * config errors before any resource, account-scoped invoke/publish permissions, tag-scoped instance
 * permissions, and the creation order AWS needs.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { MOCK_ACCOUNT, ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { NACL_INBOUND_RULE_QUOTA, publicAclInboundRules } from '../../infra/targets/aws/spec.ts';
import { X509Certificate } from 'node:crypto';
import { parse } from 'yaml';
import { configFor, userDataOf } from './helpers.ts';
import type { Combination } from './helpers.ts';

type Json = Record<string, unknown>;
const LIGHT: Combination = { tier: 'lightweight', capacity: 'spot', dataServices: 'colocated' };
const GENERAL: Combination = { tier: 'general', capacity: 'spot', dataServices: 'managed' };
const GPU: Combination = { tier: 'gpu', capacity: 'on-demand', dataServices: 'managed' };
const dependsOn = (r: RecordedResource, target: RecordedResource) => r.options.dependsOn.includes(target.urn);
const statements = (run: ProgramRun) =>
  (
    JSON.parse(String(one(run, 'aws:iam/rolePolicy:RolePolicy', 'instance-policy').inputs.policy)) as {
      Statement: Json[];
    }
  ).Statement;

for (const combo of [LIGHT, GENERAL]) {
  describe(`aws on a real account: ${combo.tier} × ${combo.capacity} × ${combo.dataServices}`, () => {
    let run: ProgramRun;
    before(async () => {
      run = await runProgram(configFor(combo));
      assert.equal(run.error, undefined, run.error?.message);
    });

    test('#1 every Lambda runs on a runtime Lambda still creates functions on', () => {
      const fns = ofType(run, 'aws:lambda/function:Function');
      // traffic compare and secret rotation; with managed data also the app-login rotation
      assert.equal(fns.length, combo.dataServices === 'managed' ? 3 : 2);
      for (const f of fns) assert.equal(f.inputs.runtime, 'nodejs24.x', f.name);
    });

    test('#4 #7 the group does not make pulumi up wait for capacity, and a later up keeps its scaled size', () => {
      const asg = one(run, 'aws:autoscaling/group:Group');
      assert.equal(asg.inputs.waitForCapacityTimeout, '0');
      assert.deepEqual(asg.options.ignoreChanges, ['desiredCapacity']);
    });

    test('#2 managed Postgres is verified (verify-full) against the RDS CA shipped to the app containers', () => {
      const doc = parse(userDataOf(run)) as { write_files: { path: string; content: string }[] };
      const file = (path: string) => doc.write_files.find((f) => f.path === path)?.content;
      const ca = file('/etc/clawstack/rds-ca.pem');
      if (combo.dataServices === 'colocated') {
        assert.equal(ca, undefined);
        return;
      }
      const db = one(run, 'aws:rds/instance:Instance').inputs;
      assert.equal(db.caCertIdentifier, 'rds-ca-rsa2048-g1');
      const cert = new X509Certificate(ca!);
      assert.ok(cert.subject.includes('CN=Amazon RDS us-east-1 Root CA RSA2048 G1'), cert.subject);
      assert.ok(new Date(cert.validTo) > new Date(), 'the CA has not expired');
      for (const role of ['api', 'worker']) {
        const unit = file(`/etc/systemd/system/clawstack-${role}.service`)!;
        assert.match(unit, / -v \/etc\/clawstack\/rds-ca\.pem:\/etc\/clawstack\/rds-ca\.pem:ro /);
        // the app reads its URL from the file the instance keeps current (rotating app login)
        assert.doesNotMatch(file(`/etc/clawstack/${role}.secret-env`)!, /DATABASE_URL=/);
      }
      assert.match(
        file('/etc/clawstack/database-url.template')!,
        /^postgres:\/\/\{\{username\}\}:\{\{password\}\}@.*\?sslmode=verify-full&sslrootcert=\/etc\/clawstack\/rds-ca\.pem\n$/,
      );
    });

    test('#6 a failed boot is retried, then the instance is marked unhealthy; EC2-only health checks watch the api', () => {
      const doc = parse(userDataOf(run)) as {
        write_files: { path: string; content: string }[];
        runcmd: string[][];
      };
      const file = (path: string) => doc.write_files.find((f) => f.path === path)?.content;
      const prepare = file('/etc/systemd/system/clawstack-prepare.service')!;
      assert.match(prepare, /^Restart=on-failure$/m);
      assert.match(prepare, /^StartLimitBurst=6$/m);
      assert.match(prepare, /^OnFailure=clawstack-unhealthy\.service$/m);
      assert.match(
        file('/usr/local/bin/clawstack-unhealthy')!,
        /set-instance-health .*--health-status Unhealthy/,
      );
      const lifecycle = JSON.stringify(
        one(run, 'aws:iam/rolePolicy:RolePolicy', 'instance-lifecycle').inputs.policy,
      );
      assert.ok(lifecycle.includes('autoscaling:SetInstanceHealth'));
      const asg = one(run, 'aws:autoscaling/group:Group').inputs;
      const watched = doc.runcmd.at(-1)!.includes('clawstack-health.timer');
      assert.equal(watched, asg.healthCheckType === 'EC2', 'the api watch runs where only EC2 checks exist');
      if (watched) assert.match(file('/usr/local/bin/clawstack-health')!, /\{\{\.State\.Health\.Status\}\}/);
      assert.equal(asg.capacityRebalance, combo.capacity === 'spot' && asg.maxSize !== 1);
    });

    test('#5 the AMI is resolved by EC2 at launch: no deploy-time lookup that would roll the fleet', () => {
      assert.match(
        String(one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.imageId),
        /^resolve:ssm:\/aws\/service\//,
      );
      assert.equal(run.invokes.filter((i) => i.token.startsWith('aws:ssm/')).length, 0);
    });

    test('only this account may invoke the functions or publish to the alarm topic', () => {
      for (const p of ofType(run, 'aws:lambda/permission:Permission'))
        assert.equal(p.inputs.sourceAccount, MOCK_ACCOUNT, p.name);
      const policy = JSON.parse(String(one(run, 'aws:sns/topicPolicy:TopicPolicy').inputs.policy)) as {
        Statement: Json[];
      };
      for (const s of policy.Statement)
        assert.deepEqual(s.Condition, { StringEquals: { 'aws:SourceAccount': MOCK_ACCOUNT } });
    });

    test('instance-wide EC2 actions (attach the data volume, take the Elastic IP) only on this stack’s instances', () => {
      const wide = statements(run).filter((s) => JSON.stringify(s.Resource).includes(':instance/'));
      if (combo === LIGHT) assert.equal(wide.length, 2, 'AttachVolume and AssociateAddress');
      for (const s of wide)
        assert.deepEqual(s.Condition, {
          StringEquals: { 'aws:ResourceTag/project': 'clawstack', 'aws:ResourceTag/stack': 'test' },
        });
      const lt = one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs;
      const tagged = (lt.tagSpecifications as Json[]).map((t) => t.resourceType);
      assert.ok(tagged.includes('instance') && tagged.includes('network-interface'));
    });

    test('creation order: rotation after the rotator may act, budget after the topic policy, bucket settings one at a time, instances after the network', () => {
      // each rotation waits for its own function's policy (the app-login rotator has its own)
      const policy = (name: string) =>
        ofType(run, 'aws:iam/rolePolicy:RolePolicy').find((r) => r.name === `clawstack-test-${name}`)!;
      for (const r of ofType(run, 'aws:secretsmanager/secretRotation:SecretRotation')) {
        const own = r.name.includes('-db-app-login-') ? 'db-login-rotator-policy' : 'rotator-policy';
        assert.ok(policy(own) && dependsOn(r, policy(own)), `${r.name} waits for ${own}`);
      }
      assert.ok(
        dependsOn(one(run, 'aws:budgets/budget:Budget'), one(run, 'aws:sns/topicPolicy:TopicPolicy')),
      );
      const pab = one(run, 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock');
      const ownership = one(run, 'aws:s3/bucketOwnershipControls:BucketOwnershipControls');
      const bucketPolicy = one(run, 'aws:s3/bucketPolicy:BucketPolicy');
      assert.ok(
        dependsOn(ownership, pab) && dependsOn(bucketPolicy, pab) && dependsOn(bucketPolicy, ownership),
      );
      const asg = one(run, 'aws:autoscaling/group:Group');
      const boot = [
        ...ofType(run, 'aws:ec2/route:Route'),
        ...ofType(run, 'aws:ec2/vpcEndpoint:VpcEndpoint'),
        ...ofType(run, 'aws:ec2/routeTableAssociation:RouteTableAssociation'),
      ];
      assert.ok(boot.length > 0);
      for (const r of boot) assert.ok(dependsOn(asg, r), `${asg.name} waits for ${r.name}`);
    });
  });
}

test('#2 the RDS CA follows the region', async () => {
  const run = await runProgram(configFor(GENERAL, { 'aws:region': 'eu-west-1' }));
  assert.equal(run.error, undefined, run.error?.message);
  const doc = parse(userDataOf(run)) as { write_files: { path: string; content: string }[] };
  const ca = doc.write_files.find((f) => f.path === '/etc/clawstack/rds-ca.pem')!.content;
  assert.ok(new X509Certificate(ca).subject.includes('CN=Amazon RDS eu-west-1 Root CA RSA2048 G1'));
});

test('#11 an appEnv value set with --secret reaches the app only through Secrets Manager', async () => {
  const value = 'sk-live-0123456789';
  const run = await runProgram(configFor(GENERAL, { appEnv: { MODEL_CACHE_DIR: value } }), {
    secretKeys: ['appEnv'],
  });
  assert.equal(run.error, undefined, run.error?.message);
  const secret = one(run, 'aws:secretsmanager/secret:Secret', 'app-env-MODEL_CACHE_DIR');
  assert.equal(secret.inputs.name, 'clawstack-test/app-env/MODEL_CACHE_DIR');
  const version = one(
    run,
    'aws:secretsmanager/secretVersion:SecretVersion',
    'app-env-MODEL_CACHE_DIR-initial',
  );
  assert.equal(version.inputs.secretString, value);
  assert.ok(version.secrets.includes('secretString'), 'stored as a Pulumi secret');
  const userData = userDataOf(run);
  assert.ok(!userData.includes(value));
  assert.match(userData, /appEnv\.MODEL_CACHE_DIR arn:aws:secretsmanager:/);
  assert.match(userData, /MODEL_CACHE_DIR=__CLAWSTACK_SECRET__appEnv\.MODEL_CACHE_DIR__/);
  const read = statements(run).find((s) => s.Sid === 'ReadSecrets')!;
  assert.equal((read.Resource as unknown[]).length, 4);
});

test('#5 an AMI pinned in config is used as is', async () => {
  const run = await runProgram(configFor(LIGHT, { amiId: 'ami-0123456789abcdef0' }));
  assert.equal(run.error, undefined, run.error?.message);
  assert.equal(one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.imageId, 'ami-0123456789abcdef0');
});

test('#8 the NACL rule count the config check uses is the one the network declares', async () => {
  const allowed = ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/25'];
  const admin = ['192.0.2.200/32', '192.0.2.201/32'];
  const run = await runProgram(configFor(GENERAL, { allowedCidrs: allowed, adminCidrs: admin }));
  assert.equal(run.error, undefined, run.error?.message);
  const acl = one(run, 'aws:ec2/networkAcl:NetworkAcl', 'public-acl');
  assert.equal((acl.inputs.ingress as unknown[]).length, publicAclInboundRules(allowed.length, admin.length));
});

interface BadCase {
  name: string;
  config: Record<string, unknown>;
  stack?: string;
  key: string;
  allowed: RegExp;
}
const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `203.0.${i}.0/24`);
const CASES: BadCase[] = [
  {
    name: 'p3 on the GPU tier (the GPU AMI does not support it)',
    config: configFor(GPU, { instanceTypes: ['p3.2xlarge'] }),
    key: 'clawstack:aws.instanceTypes',
    allowed: /p3\.2xlarge has no NVIDIA GPU|supports/,
  },
  {
    name: "root volume below the GPU AMI's 75 GiB snapshot",
    config: configFor(GPU, { rootVolumeGb: 60 }),
    key: 'clawstack:aws.rootVolumeGb',
    allowed: /at least 75 GiB on tier gpu/,
  },
  {
    name: 'STANDARD_IA before 30 days',
    config: configFor(LIGHT, { archiveStorageClass: 'STANDARD_IA', archiveAfterDays: 7 }),
    key: 'clawstack:aws.archiveAfterDays',
    allowed: /at least 30 with archiveStorageClass STANDARD_IA/,
  },
  {
    name: 'ONEZONE_IA before 30 days',
    config: configFor(LIGHT, { archiveStorageClass: 'ONEZONE_IA', archiveAfterDays: 29 }),
    key: 'clawstack:aws.archiveAfterDays',
    allowed: /at least 30/,
  },
  {
    name: 'more CIDRs than the network ACL quota holds',
    config: configFor(GENERAL, { allowedCidrs: cidrs(8), adminCidrs: ['192.0.2.1/32', '192.0.2.2/32'] }),
    key: 'clawstack:allowedCidrs',
    allowed: new RegExp(`at most ${NACL_INBOUND_RULE_QUOTA} network ACL inbound rules`),
  },
  {
    name: 'a stack name that makes the ALB name longer than 32 characters',
    config: configFor(GENERAL),
    stack: 'production-eu',
    key: 'stack name',
    allowed: /at most 10 characters on tier general/,
  },
  {
    name: 'a tag key AWS reserves',
    config: configFor(LIGHT, { tags: { 'aws:owner': 'me' } }),
    key: 'clawstack:tags',
    allowed: /not starting with aws:/,
  },
  {
    name: 'a tag key with characters AWS refuses',
    config: configFor(LIGHT, { tags: { 'cost#center': '42' } }),
    key: 'clawstack:tags',
    allowed: /tag keys of 1–128/,
  },
];

describe('#8 values AWS rejects are config errors before any resource', () => {
  for (const c of CASES) {
    test(`${c.name} → ${c.key}`, async () => {
      const run = await runProgram(c.config, { stack: c.stack ?? 'test' });
      assert.equal(run.error?.name, 'StackConfigError', run.error?.message);
      assert.ok(run.error.message.startsWith(`invalid stack config ${c.key} = `), run.error.message);
      assert.match(run.error.message, c.allowed);
      assert.deepEqual(
        run.resources.map((r) => r.type),
        [],
      );
    });
  }
  test('the quota boundary itself is accepted', () => {
    assert.equal(publicAclInboundRules(8, 1), NACL_INBOUND_RULE_QUOTA);
  });
});
