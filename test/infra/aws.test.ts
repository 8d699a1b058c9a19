/**
 * The AWS target under Pulumi mocks, for every tier × capacity × data-services combination:
 * which resources exist and with which settings.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { SPOT_MAX_DRAIN_MS } from '../../infra/spec/common.ts';
import { TIERS } from '../../infra/tiers.ts';
import { MOCK_SECRET_MARKER, ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { ADMIN, ALLOWED, COMBINATIONS, configFor, label, UNTAGGABLE, userDataOf } from './helpers.ts';

type Json = Record<string, unknown>;
const j = (v: unknown) => v as Json;
const arr = (v: unknown) => (Array.isArray(v) ? (v as Json[]) : []);
const covers22 = (r: Json) =>
  String(r.ipProtocol ?? r.protocol) === '-1' || (Number(r.fromPort) <= 22 && Number(r.toPort) >= 22);

for (const combo of COMBINATIONS) {
  const tier = TIERS[combo.tier];
  const alb = tier.aws.edge === 'alb';
  const spot = combo.capacity === 'spot';
  const managed = combo.dataServices === 'managed';
  const config = configFor(combo);

  describe(`aws: ${label(combo)}`, () => {
    let run: ProgramRun;
    const custom = () => run.resources.filter((r) => r.custom);
    before(async () => {
      run = await runProgram(config, { stack: 'test' });
      assert.equal(run.error, undefined, run.error?.stack);
    });

    test('launch template: tier AMI resolved by EC2 at launch from the public SSM parameter, first instance type, IMDSv2 required, encrypted gp3 root sized by tier', () => {
      const lt = one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs;
      // resolve:ssm: at launch, not a lookup at deploy time (which would roll the fleet on every new AMI).
      assert.equal(lt.imageId, `resolve:ssm:${tier.aws.ami.ssmParameter}`);
      assert.ok(!run.invokes.some((i) => i.token === 'aws:ssm/getParameter:getParameter'));
      assert.equal(lt.instanceType, tier.aws.instanceTypes[combo.capacity][0]);
      assert.equal(j(lt.metadataOptions).httpTokens, 'required');
      assert.equal(j(lt.metadataOptions).httpEndpoint, 'enabled');
      const ebs = j(arr(lt.blockDeviceMappings)[0]?.ebs);
      assert.deepEqual(
        [ebs.volumeSize, ebs.volumeType, ebs.encrypted],
        [tier.aws.rootVolumeGb, 'gp3', 'true'],
      );
      assert.ok(j(lt.iamInstanceProfile).arn, 'instance profile attached');
      if (combo.tier === 'gpu') assert.match(tier.aws.ami.ssmParameter, /nvidia-driver/);
    });

    test('auto scaling group: sizes from config, capacity settings, rolling refresh, CPU target tracking at 70 %', () => {
      const asg = one(run, 'aws:autoscaling/group:Group').inputs;
      const expected = managed && alb ? [2, 4, 2] : [1, 1, 1];
      assert.deepEqual([asg.minSize, asg.maxSize, asg.desiredCapacity], expected);
      assert.equal(asg.healthCheckType, alb ? 'ELB' : 'EC2');
      assert.equal(arr(asg.targetGroupArns).length, alb ? 1 : 0);
      // Co-located data pins the group to the data volume's AZ.
      assert.equal(arr(asg.vpcZoneIdentifiers).length, managed ? 2 : 1);
      assert.equal(j(asg.instanceRefresh).strategy, 'Rolling');
      if (spot) {
        const mixed = j(asg.mixedInstancesPolicy);
        const dist = j(mixed.instancesDistribution);
        assert.equal(dist.spotAllocationStrategy, 'price-capacity-optimized');
        assert.equal(dist.onDemandPercentageAboveBaseCapacity, 0);
        const types = arr(j(mixed.launchTemplate).overrides).map((o) => o.instanceType);
        assert.ok(types.length >= 3, `spot diversity: ${types.join(', ')}`);
        assert.deepEqual(types, tier.aws.instanceTypes.spot);
        assert.equal(asg.capacityRebalance, managed && alb, 'no rebalance for the single instance');
        assert.equal(asg.launchTemplate, undefined);
      } else {
        assert.equal(asg.mixedInstancesPolicy, undefined);
        assert.equal(asg.capacityRebalance, false);
        assert.ok(j(asg.launchTemplate).id);
      }
      const policy = one(run, 'aws:autoscaling/policy:Policy', 'cpu-target').inputs;
      assert.equal(policy.policyType, 'TargetTrackingScaling');
      const tt = j(policy.targetTrackingConfiguration);
      assert.equal(j(tt.predefinedMetricSpecification).predefinedMetricType, 'ASGAverageCPUUtilization');
      assert.equal(tt.targetValue, 70);
      const hook = one(run, 'aws:autoscaling/lifecycleHook:LifecycleHook').inputs;
      assert.equal(hook.lifecycleTransition, 'autoscaling:EC2_INSTANCE_TERMINATING');
      assert.ok(Number(hook.heartbeatTimeout) >= SPOT_MAX_DRAIN_MS / 1000);
    });

    test('instance role: SSM and CloudWatch agent, read on models/, write on logs/, secrets by ARN — no SSH key anywhere', () => {
      const attached = ofType(run, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').map((r) =>
        String(r.inputs.policyArn),
      );
      assert.ok(attached.includes('arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'));
      assert.ok(attached.includes('arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy'));
      const policy = JSON.parse(
        String(one(run, 'aws:iam/rolePolicy:RolePolicy', 'instance-policy').inputs.policy),
      ) as { Statement: Json[] };
      const sid = (s: string) => policy.Statement.find((x) => x.Sid === s);
      assert.match(String(sid('ReadModels')?.Resource), /\/models\/\*$/);
      assert.equal(sid('ReadModels')?.Action, 's3:GetObject');
      assert.match(String(sid('WriteLogs')?.Resource), /\/logs\/\*$/);
      assert.equal(sid('WriteLogs')?.Action, 's3:PutObject');
      assert.equal(arr(sid('ReadSecrets')?.Resource).length, 3);
      assert.ok(!JSON.stringify(policy).includes('s3:*'));
      const lt = one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs;
      assert.equal(lt.keyName, undefined);
    });

    test('security groups: 443/80 only from allowedCidrs, admin port only from adminCidrs, nothing on 22', () => {
      const rules = ofType(run, 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule').map(
        (r) => r.inputs,
      );
      assert.ok(rules.length > 0);
      for (const r of rules) assert.ok(!covers22(r), `ingress covering 22: ${JSON.stringify(r)}`);
      const fromCidr = rules.filter((r) => r.cidrIpv4);
      const allowed = alb ? ALLOWED : ['0.0.0.0/0'];
      for (const port of [443, 80]) {
        assert.deepEqual(
          fromCidr
            .filter((r) => r.fromPort === port)
            .map((r) => r.cidrIpv4)
            .sort(),
          [...allowed].sort(),
          `port ${port}`,
        );
      }
      assert.deepEqual(
        fromCidr.filter((r) => r.fromPort === 9443).map((r) => r.cidrIpv4),
        ADMIN,
      );
      assert.deepEqual(
        [...new Set(fromCidr.map((r) => Number(r.fromPort)))].sort((a, b) => a - b),
        [80, 443, 9443],
      );
      // Everything else is group-to-group: app port from the ALB, data ports from the app.
      for (const r of rules.filter((x) => !x.cidrIpv4))
        assert.ok(r.referencedSecurityGroupId, JSON.stringify(r));
      if (alb) assert.ok(rules.some((r) => r.fromPort === 8080 && r.referencedSecurityGroupId));
      else assert.ok(!rules.some((r) => r.fromPort === 8080));
    });

    test('network ACLs mirror the groups: SSH denied first, 443/80 from allowedCidrs, 9443 from adminCidrs', () => {
      const acls = ofType(run, 'aws:ec2/networkAcl:NetworkAcl');
      assert.equal(acls.length, 2);
      for (const acl of acls) {
        const ingress = arr(acl.inputs.ingress).sort((a, b) => Number(a.ruleNo) - Number(b.ruleNo));
        const first = ingress[0]!;
        assert.deepEqual([first.action, first.fromPort, first.toPort], ['deny', 22, 22]);
        for (const r of ingress.filter((x) => x.action === 'allow' && x.cidrBlock !== '10.42.0.0/16'))
          assert.ok(!covers22(r), JSON.stringify(r));
      }
      const pub = one(run, 'aws:ec2/networkAcl:NetworkAcl', 'public-acl').inputs;
      const allows = arr(pub.ingress).filter((r) => r.action === 'allow');
      const allowed = alb ? ALLOWED : ['0.0.0.0/0'];
      assert.deepEqual(
        allows
          .filter((r) => r.fromPort === 443)
          .map((r) => r.cidrBlock)
          .sort(),
        [...allowed].sort(),
      );
      assert.deepEqual(
        allows
          .filter((r) => r.fromPort === 80)
          .map((r) => r.cidrBlock)
          .sort(),
        [...allowed].sort(),
      );
      assert.deepEqual(
        allows.filter((r) => r.fromPort === 9443).map((r) => r.cidrBlock),
        ADMIN,
      );
    });

    test('network: VPC over two AZs, public + private subnets, NAT only behind an ALB', () => {
      assert.equal(one(run, 'aws:ec2/vpc:Vpc').inputs.cidrBlock, '10.42.0.0/16');
      const subnets = ofType(run, 'aws:ec2/subnet:Subnet');
      assert.equal(subnets.length, 4);
      assert.deepEqual([...new Set(subnets.map((s) => s.inputs.availabilityZone))].sort(), [
        'us-east-1a',
        'us-east-1b',
      ]);
      assert.equal(ofType(run, 'aws:ec2/natGateway:NatGateway').length, alb ? 1 : 0);
      assert.equal(
        one(run, 'aws:ec2/vpcEndpoint:VpcEndpoint', '-s3-endpoint').inputs.serviceName,
        'com.amazonaws.us-east-1.s3',
      );
    });

    test('bucket: versioned, encrypted, public access blocked, owner enforced, TLS ≥ 1.2 only, lifecycle', () => {
      assert.equal(
        j(one(run, 'aws:s3/bucketVersioning:BucketVersioning').inputs.versioningConfiguration).status,
        'Enabled',
      );
      const sse = arr(
        one(run, 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration')
          .inputs.rules,
      )[0]!;
      assert.equal(j(sse.applyServerSideEncryptionByDefault).sseAlgorithm, 'AES256');
      const pab = one(run, 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock').inputs;
      assert.deepEqual(
        [pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets],
        [true, true, true, true],
      );
      assert.equal(
        j(one(run, 'aws:s3/bucketOwnershipControls:BucketOwnershipControls').inputs.rule).objectOwnership,
        'BucketOwnerEnforced',
      );
      const policy = JSON.parse(String(one(run, 'aws:s3/bucketPolicy:BucketPolicy').inputs.policy)) as {
        Statement: Json[];
      };
      const deny = (cond: string) =>
        policy.Statement.find((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes(cond));
      assert.deepEqual(j(deny('SecureTransport')?.Condition).Bool, { 'aws:SecureTransport': 'false' });
      assert.deepEqual(j(deny('TlsVersion')?.Condition).NumericLessThan, { 's3:TlsVersion': '1.2' });
      const rules = arr(
        one(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs.rules,
      );
      const archive = rules.find((r) => r.transitions);
      assert.deepEqual(arr(archive?.transitions)[0], { days: 30, storageClass: 'GLACIER_IR' });
      assert.equal(j(archive?.filter).prefix, 'logs/');
      assert.equal(
        j(rules.find((r) => r.noncurrentVersionExpiration)?.noncurrentVersionExpiration).noncurrentDays,
        30,
      );
      assert.equal(
        j(rules.find((r) => r.abortIncompleteMultipartUpload)?.abortIncompleteMultipartUpload)
          .daysAfterInitiation,
        7,
      );
      for (const r of rules) assert.equal(r.status, 'Enabled');
    });

    test(
      alb
        ? 'edge: ALB over two AZs, HTTPS with TLS 1.2+ policy and a DNS-validated certificate, HTTP → HTTPS 301, readiness health check, WAF'
        : 'edge: no ALB, an Elastic IP and its DNS record, Caddy on the instance',
      () => {
        if (alb) {
          const lb = one(run, 'aws:lb/loadBalancer:LoadBalancer').inputs;
          assert.equal(lb.internal, false);
          assert.equal(arr(lb.subnets).length, 2);
          assert.equal(lb.dropInvalidHeaderFields, true);
          const https = one(run, 'aws:lb/listener:Listener', '-https').inputs;
          assert.deepEqual(
            [https.port, https.protocol, https.sslPolicy],
            [443, 'HTTPS', 'ELBSecurityPolicy-TLS13-1-2-2021-06'],
          );
          assert.match(String(https.certificateArn), /^arn:aws:acm:/);
          const http = one(run, 'aws:lb/listener:Listener', '-http').inputs;
          const redirect = arr(http.defaultActions)[0]!;
          assert.equal(redirect.type, 'redirect');
          assert.deepEqual(j(redirect.redirect), { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' });
          const admin = one(run, 'aws:lb/listener:Listener', '-admin').inputs;
          assert.deepEqual([admin.port, admin.sslPolicy], [9443, 'ELBSecurityPolicy-TLS13-1-2-2021-06']);
          const tg = one(run, 'aws:lb/targetGroup:TargetGroup').inputs;
          assert.equal(j(tg.healthCheck).path, '/v2/health/ready');
          assert.equal(tg.port, 8080);
          assert.equal(one(run, 'aws:acm/certificate:Certificate').inputs.validationMethod, 'DNS');
          assert.ok(one(run, 'aws:acm/certificateValidation:CertificateValidation'));
          const waf = one(run, 'aws:wafv2/webAcl:WebAcl').inputs;
          assert.equal(j(j(arr(waf.rules)[0]?.statement).rateBasedStatement).limit, 1000);
          assert.ok(one(run, 'aws:wafv2/webAclAssociation:WebAclAssociation'));
          assert.equal(ofType(run, 'aws:ec2/eip:Eip').length, 1, 'only the NAT gateway has an Elastic IP');
        } else {
          assert.equal(ofType(run, 'aws:lb/loadBalancer:LoadBalancer').length, 0);
          assert.equal(ofType(run, 'aws:ec2/natGateway:NatGateway').length, 0);
          assert.ok(one(run, 'aws:ec2/eip:Eip', '-eip'));
          assert.equal(one(run, 'aws:route53/record:Record', '-a').inputs.name, 'dev.example.com');
          assert.match(userDataOf(run), /clawstack-caddy\.service/);
        }
      },
    );

    test(
      managed
        ? 'data: RDS encrypted, private, backups, SSL forced; ElastiCache TLS + auth token; only the app group may connect'
        : 'data: co-located on an encrypted, persistent EBS volume; no RDS or ElastiCache',
      () => {
        if (managed) {
          const dbResource = one(run, 'aws:rds/instance:Instance');
          const db = dbResource.inputs;
          assert.ok(dbResource.secrets.includes('password'), 'the DB password is a Pulumi secret');
          assert.equal(db.storageEncrypted, true);
          assert.equal(db.publiclyAccessible, false);
          assert.ok(Number(db.backupRetentionPeriod) >= 1);
          assert.ok(db.password, 'password from @pulumi/random');
          const params = arr(one(run, 'aws:rds/parameterGroup:ParameterGroup').inputs.parameters);
          assert.ok(params.some((p) => p.name === 'rds.force_ssl' && p.value === '1'));
          const redisResource = one(run, 'aws:elasticache/replicationGroup:ReplicationGroup');
          const redis = redisResource.inputs;
          assert.ok(redisResource.secrets.includes('authToken'), 'the auth token is a Pulumi secret');
          assert.equal(redis.transitEncryptionEnabled, true);
          assert.equal(redis.atRestEncryptionEnabled, true);
          assert.ok(String(redis.authToken).length >= 16);
          const dataRules = ofType(run, 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule').filter(
            (r) => r.name.includes('-data-') && r.name.endsWith('-from-app'),
          );
          assert.deepEqual(
            dataRules.map((r) => Number(r.inputs.fromPort)).sort((a, b) => a - b),
            [5432, 6379],
          );
          for (const r of dataRules) {
            assert.equal(r.inputs.cidrIpv4, undefined);
            assert.ok(String(r.inputs.referencedSecurityGroupId).includes('app-sg'));
          }
          assert.equal(ofType(run, 'aws:ebs/volume:Volume').length, 0);
        } else {
          const volume = one(run, 'aws:ebs/volume:Volume').inputs;
          assert.equal(volume.encrypted, true);
          assert.equal(volume.availabilityZone, 'us-east-1a');
          assert.equal(ofType(run, 'aws:rds/instance:Instance').length, 0);
          assert.equal(ofType(run, 'aws:elasticache/replicationGroup:ReplicationGroup').length, 0);
        }
      },
    );

    test('alarms: CPU > 85 % 5 min, memory < 500 MB, p99 > 500 ms, 5xx > 5 %, traffic −30 % vs a day earlier, all to the SNS topic', () => {
      const alarm = (suffix: string) => one(run, 'aws:cloudwatch/metricAlarm:MetricAlarm', suffix).inputs;
      const cpu = alarm('cpu-high');
      assert.deepEqual(
        [
          cpu.metricName,
          cpu.threshold,
          cpu.comparisonOperator,
          Number(cpu.period) * Number(cpu.evaluationPeriods),
        ],
        ['CPUUtilization', 85, 'GreaterThanThreshold', 300],
      );
      const mem = alarm('memory-low');
      assert.deepEqual(
        [mem.namespace, mem.metricName, mem.threshold, mem.comparisonOperator],
        ['CWAgent', 'mem_available', 500 * 1024 * 1024, 'LessThanThreshold'],
      );
      const p99 = alarm('latency-p99');
      assert.deepEqual([p99.extendedStatistic, p99.threshold], ['p99', 0.5]);
      assert.equal(p99.metricName, alb ? 'TargetResponseTime' : 'ResponseTime');
      const errors = alarm('5xx-rate');
      assert.equal(errors.threshold, 5);
      const expression = arr(errors.metricQueries).find((q) => q.expression);
      assert.match(String(expression?.expression), /100 \*/);
      const drop = alarm('traffic-drop');
      assert.deepEqual(
        [drop.threshold, drop.comparisonOperator, drop.period],
        [70, 'LessThanThreshold', 3600],
      );
      const topic = one(run, 'aws:sns/topic:Topic');
      for (const a of ofType(run, 'aws:cloudwatch/metricAlarm:MetricAlarm')) {
        assert.ok(
          arr(a.inputs.alarmActions).length === 1 &&
            String(arr(a.inputs.alarmActions)[0]).includes(topic.name),
          a.name,
        );
      }
      assert.equal(
        one(run, 'aws:sns/topicSubscription:TopicSubscription').inputs.endpoint,
        'oncall@example.com',
      );
      assert.ok(one(run, 'aws:cloudwatch/dashboard:Dashboard'));
      assert.ok(one(run, 'aws:cloudwatch/eventRule:EventRule', 'traffic-hourly'));
      // The app-metrics (EMF) group keeps a week; every other group follows logRetentionDays.
      for (const g of ofType(run, 'aws:cloudwatch/logGroup:LogGroup'))
        assert.equal(g.inputs.retentionInDays, g.name.endsWith('-logs-metrics') ? 7 : 30, g.name);
    });

    test('secrets: random values in Secrets Manager with 90-day rotation; never in user-data', () => {
      // Managed Postgres adds the app's own login (alternating users) to the three generated secrets.
      const count = managed ? 4 : 3;
      assert.equal(ofType(run, 'random:index/randomPassword:RandomPassword').length, count);
      assert.equal(ofType(run, 'aws:secretsmanager/secret:Secret').length, count);
      const rotations = ofType(run, 'aws:secretsmanager/secretRotation:SecretRotation');
      assert.equal(rotations.length, count);
      for (const r of rotations) assert.equal(j(r.inputs.rotationRules).automaticallyAfterDays, 90);
      const userData = userDataOf(run);
      // Only references and ARNs may reach user-data; boot resolves them (clawstack-secrets).
      assert.ok(!userData.includes(MOCK_SECRET_MARKER), 'a secret value leaked into user-data');
      if (managed) assert.doesNotMatch(userData, /dbPassword/, 'instances never get the RDS master password');
      else assert.match(userData, /__CLAWSTACK_SECRET__dbPassword__/);
      assert.match(userData, /^\s*bootstrapApiKey arn:aws:secretsmanager:/m);
      const secretKinds = JSON.parse(
        String(
          j(j(one(run, 'aws:lambda/function:Function', 'secret-rotator').inputs.environment).variables)
            .SECRET_KINDS,
        ),
      ) as Json;
      assert.equal(secretKinds['clawstack-test/db-password'], managed ? 'rds' : 'instance');
    });

    test(
      managed
        ? "db rotation: the app's own login rotates by alternating users in a VPC function that may read the master secret"
        : 'db rotation: co-located Postgres takes its password at boot (no login function)',
      () => {
        const fns = ofType(run, 'aws:lambda/function:Function').filter((f) =>
          f.name.endsWith('-db-login-rotator'),
        );
        if (!managed) {
          assert.equal(fns.length, 0);
          assert.doesNotMatch(userDataOf(run), /DB_APP_SECRET_ARN=|clawstack-db-url\.timer/);
          return;
        }
        const secretArn = (suffix: string) =>
          `arn:aws:secretsmanager:us-east-1:123456789012:clawstack-test-${suffix}`;
        const login = one(run, 'aws:secretsmanager/secretVersion:SecretVersion', '-db-app-login-initial');
        assert.ok(login.secrets.includes('secretString'), 'the login is a Pulumi secret');
        const value = JSON.parse(String(login.inputs.secretString)) as Json;
        assert.deepEqual(
          { ...value, host: undefined, password: undefined },
          {
            engine: 'postgres',
            port: 5432,
            dbname: 'clawstack',
            username: 'clawstack_app_user',
            masterarn: secretArn('db-password'),
            host: undefined,
            password: undefined,
          },
        );
        assert.ok(String(value.password).startsWith(MOCK_SECRET_MARKER));
        const fn = one(run, 'aws:lambda/function:Function', '-db-login-rotator').inputs;
        const vars = j(j(fn.environment).variables);
        assert.deepEqual(JSON.parse(String(vars.SECRET_KINDS)), {
          'clawstack-test/db-app-login': 'rds-app-user',
        });
        assert.equal(vars.DB_MASTER_USER, 'clawstack');
        assert.equal(vars.DB_APP_GROUP, 'clawstack_app');
        assert.match(String(vars.DB_CA_PEM), /^-----BEGIN CERTIFICATE-----/);
        assert.equal(arr(j(fn.vpcConfig).subnetIds).length, 2, 'in the private subnets');
        // IAM: the login's secret read/write, the master's read only; the other function never sees the login.
        const policy = (suffix: string) =>
          arr(
            j(JSON.parse(String(one(run, 'aws:iam/rolePolicy:RolePolicy', suffix).inputs.policy))).Statement,
          );
        const loginPolicy = policy('-db-login-rotator-policy');
        const readMaster = loginPolicy.find((st) => String(j(st).Resource) === secretArn('db-password'));
        assert.equal(j(readMaster).Action, 'secretsmanager:GetSecretValue');
        assert.deepEqual(arr(j(loginPolicy[0]).Resource), [secretArn('db-app-login')]);
        assert.ok(!JSON.stringify(policy('test-rotator-policy')).includes('db-app-login'));
        assert.ok(
          ofType(run, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').some(
            (a) =>
              a.name.endsWith('-db-login-rotator-vpc-access') &&
              /AWSLambdaVPCAccessExecutionRole$/.test(String(a.inputs.policyArn)),
          ),
        );
        const fromFn = one(
          run,
          'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
          '-data-postgres-from-rotator',
        );
        assert.equal(fromFn.inputs.fromPort, 5432);
        assert.match(String(fromFn.inputs.referencedSecurityGroupId), /db-login-rotator-sg/);
        // Without NAT (instance edge) Secrets Manager is reached through an interface endpoint.
        const endpoints = ofType(run, 'aws:ec2/vpcEndpoint:VpcEndpoint').filter((e) =>
          e.name.endsWith('-secrets-endpoint'),
        );
        assert.equal(endpoints.length, alb ? 0 : 1);
        if (!alb) assert.equal(endpoints[0]!.inputs.serviceName, 'com.amazonaws.us-east-1.secretsmanager');
        // The first rotation runs at once: it creates the logins in Postgres.
        const rotation = one(
          run,
          'aws:secretsmanager/secretRotation:SecretRotation',
          '-db-app-login-rotation',
        ).inputs;
        assert.equal(rotation.rotateImmediately, true);
        assert.match(String(rotation.rotationLambdaArn), /db-login-rotator/);
        // Instances: the URL file from the login's secret at boot and on a timer, mounted into the app.
        const userData = userDataOf(run);
        assert.match(userData, /^\s*DB_APP_SECRET_ARN=arn:aws:secretsmanager:.*db-app-login$/m);
        assert.match(userData, /path: \/usr\/local\/bin\/clawstack-db-url$/m);
        assert.match(userData, /OnUnitActiveSec=5min/);
        assert.match(userData, /enable.*clawstack-db-url\.timer/s);
        for (const role of ['api', 'worker'])
          assert.match(
            userData,
            new RegExp(`--name clawstack-${role} .*-v /run/clawstack/db:/run/clawstack/db:ro`),
          );
        const read = arr(
          j(
            arr(
              j(
                JSON.parse(
                  String(one(run, 'aws:iam/rolePolicy:RolePolicy', 'instance-policy').inputs.policy),
                ),
              ).Statement,
            ).find((st) => j(st).Sid === 'ReadSecrets'),
          ).Resource,
        );
        assert.ok(read.map(String).includes(secretArn('db-app-login')));
        assert.ok(
          !read.map(String).includes(secretArn('db-password')),
          'instances cannot read the master password',
        );
      },
    );

    test('budget: monthly limit with alerts at 80 % and 100 %', () => {
      const budget = one(run, 'aws:budgets/budget:Budget').inputs;
      assert.deepEqual([budget.limitAmount, budget.limitUnit, budget.timeUnit], ['250.00', 'USD', 'MONTHLY']);
      const actual = arr(budget.notifications)
        .filter((n) => n.notificationType === 'ACTUAL')
        .map((n) => n.threshold);
      assert.deepEqual(
        actual.map(Number).sort((a, b) => a - b),
        [80, 100],
      );
    });

    test('tags: project, stack, tier and capacity on every taggable resource (and propagated to instances)', () => {
      const expected = { project: 'clawstack', stack: 'test', tier: combo.tier, capacity: combo.capacity };
      const taggable = custom().filter(
        (r: RecordedResource) => r.type.startsWith('aws:') && !UNTAGGABLE.has(r.type),
      );
      assert.ok(taggable.length > 40);
      for (const r of taggable) {
        if (r.type === 'aws:autoscaling/group:Group') {
          const tags = Object.fromEntries(arr(r.inputs.tags).map((t) => [t.key, t.value]));
          assert.deepEqual({ ...tags, Name: undefined }, { ...expected, Name: undefined });
          assert.ok(arr(r.inputs.tags).every((t) => t.propagateAtLaunch === true));
          continue;
        }
        const tags = j(r.inputs.tags);
        for (const [k, v] of Object.entries(expected))
          assert.equal(tags[k], v, `${r.type} ${r.name}: tag ${k}`);
      }
    });

    test('app environment: tier tuning, MODEL_SOURCE on the bucket, drain within the spot notice', () => {
      const env = userDataOf(run);
      const value = (k: string) => env.match(new RegExp(`^\\s*${k}=(.*)$`, 'm'))?.[1];
      assert.equal(value('EXECUTION_PROVIDER'), tier.app.executionProvider);
      assert.equal(value('MODEL_PRECISION'), tier.app.modelPrecision);
      assert.equal(value('INFERENCE_THREADS'), String(tier.app.inferenceThreads));
      assert.equal(value('ORT_INTRA_OP_THREADS'), String(tier.app.ortIntraOpThreads));
      assert.equal(value('MAX_BATCH_SIZE'), String(tier.app.maxBatchSize));
      assert.equal(value('WORKER_CONCURRENCY'), String(tier.app.workerConcurrency));
      assert.match(String(value('MODEL_SOURCE')), /^s3:\/\/clawstack-test-bucket-[0-9a-f]+\/models$/);
      assert.equal(value('HOST'), '0.0.0.0');
      assert.equal(value('PORT'), '8080');
      assert.ok(Number(value('DRAIN_TIMEOUT_MS')) <= SPOT_MAX_DRAIN_MS);
      assert.match(
        String(value('REDIS_URL')),
        managed ? /^rediss:\/\// : /^redis:\/\/:__CLAWSTACK_SECRET__redisPassword__@clawstack-redis:6379$/,
      );
      if (managed) {
        assert.equal(value('DATABASE_URL'), undefined);
        assert.equal(value('DATABASE_URL_FILE'), '/run/clawstack/db/database-url');
        assert.match(
          env,
          /postgres:\/\/\{\{username\}\}:\{\{password\}\}@.*\?sslmode=verify-full&sslrootcert=\/etc\/clawstack\/rds-ca\.pem$/m,
        );
      } else assert.match(String(value('DATABASE_URL')), /@clawstack-postgres:5432\/clawstack$/);
      const image =
        combo.tier === 'gpu' ? 'ghcr.io/clawstack/clawstack:0.1.0-cuda' : 'ghcr.io/clawstack/clawstack:0.1.0';
      for (const role of ['api', 'worker'])
        assert.match(
          env,
          new RegExp(`ExecStart=/usr/bin/docker run --rm --name clawstack-${role} .* ${image}\n`),
        );
      if (combo.tier === 'gpu') {
        assert.match(env, /--gpus 1 /);
        assert.match(env, /nvidia-ctk/);
      } else assert.doesNotMatch(env, /--gpus/);
      assert.match(env, /CLAWSTACK_ROLE=api/);
      assert.match(env, /CLAWSTACK_ROLE=worker/);
      assert.equal(/clawstack-postgres\.service/.test(env), !managed);
    });

    test('outputs: service URL, target, tier summary; bucket, alarm topic, dashboard URL in details', () => {
      const o = { ...run.outputs, ...(run.outputs.details as Record<string, unknown>) };
      assert.equal(run.outputs.target, 'aws');
      assert.equal(o.url, alb ? 'https://api.example.com' : 'https://dev.example.com');
      assert.match(String(o.bucket), /^clawstack-test-bucket-/);
      assert.match(String(o.alarmTopic), /^arn:aws:sns:/);
      assert.match(
        String(o.dashboardUrl),
        /cloudwatch\/home\?region=us-east-1#dashboards:name=clawstack-test$/,
      );
      assert.deepEqual(
        [j(o.tier).tier, j(o.tier).capacity, j(o.tier).dataServices],
        [combo.tier, combo.capacity, combo.dataServices],
      );
    });

    test('every resource sits under one AwsDeployment component, made of per-concern components', () => {
      const root = run.resources.filter((r) => r.type === 'clawstack:aws:AwsDeployment');
      assert.equal(root.length, 1);
      const components = run.resources
        .filter((r) => !r.custom && r.parent === root[0]!.urn)
        .map((r) => r.type.split(':').pop());
      for (const c of [
        'Network',
        'ObjectStore',
        'AppSecrets',
        'SecretRotator',
        'Observability',
        'CostBudget',
        'AppFleet',
      ])
        assert.ok(components.includes(c), c);
      assert.ok(components.includes(alb ? 'LoadBalancedEdge' : 'InstanceEdge'));
      assert.ok(components.includes(managed ? 'ManagedDataServices' : 'ColocatedDataVolume'));
      for (const r of custom())
        assert.ok(r.parent && r.parent !== root[0]!.parent, `${r.name} has no component parent`);
    });
  });
}

describe('aws: other settings', () => {
  test('an imported certificate ARN replaces the ACM certificate; HA NAT gives one NAT per AZ', async () => {
    const arn = 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000';
    const run = await runProgram(
      configFor(
        { tier: 'general', capacity: 'on-demand', dataServices: 'managed' },
        { hostedZoneId: undefined, domain: undefined, certificateArn: arn, highAvailabilityNat: true },
      ),
    );
    assert.equal(run.error, undefined);
    assert.equal(ofType(run, 'aws:acm/certificate:Certificate').length, 0);
    assert.equal(one(run, 'aws:lb/listener:Listener', '-https').inputs.certificateArn, arn);
    assert.equal(ofType(run, 'aws:ec2/natGateway:NatGateway').length, 2);
    assert.match(String(run.outputs.url), /^https:\/\/.*\.elb\.amazonaws\.com$/);
  });

  test('archive days and class, log retention, CPU target and instance types follow config', async () => {
    const run = await runProgram(
      configFor(
        { tier: 'general', capacity: 'spot', dataServices: 'managed' },
        {
          archiveAfterDays: 60,
          archiveStorageClass: 'DEEP_ARCHIVE',
          logRetentionDays: 90,
          cpuTargetPercent: 55,
          instanceTypes: ['m6i.xlarge', 'm6a.xlarge', 'm5.xlarge'],
          rootVolumeGb: 200,
        },
      ),
    );
    assert.equal(run.error, undefined);
    const rules = arr(
      one(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs.rules,
    );
    assert.deepEqual(arr(rules.find((r) => r.transitions)?.transitions)[0], {
      days: 60,
      storageClass: 'DEEP_ARCHIVE',
    });
    assert.equal(one(run, 'aws:cloudwatch/logGroup:LogGroup', 'logs-api').inputs.retentionInDays, 90);
    assert.equal(
      j(one(run, 'aws:autoscaling/policy:Policy', 'cpu-target').inputs.targetTrackingConfiguration)
        .targetValue,
      55,
    );
    const asg = one(run, 'aws:autoscaling/group:Group').inputs;
    assert.deepEqual(
      arr(j(j(asg.mixedInstancesPolicy).launchTemplate).overrides).map((o) => o.instanceType),
      ['m6i.xlarge', 'm6a.xlarge', 'm5.xlarge'],
    );
    assert.equal(
      j(arr(one(run, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.blockDeviceMappings)[0]?.ebs).volumeSize,
      200,
    );
  });
});
