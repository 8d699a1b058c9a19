/**
 * Cost: the offline plan's estimate (price table × recorded resources; spot vs on-demand, Multi-AZ,
 * per region, override file, targets without a cloud bill) and `npm run cost` (Cost Explorer
 * queries and report; the no-credentials path, run as the CLI with no network and no credentials).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { appMetrics } from '../../scripts/cost/cloudwatch.ts';
import { costQueries, renderSpend, sumGroups } from '../../scripts/cost/explorer.ts';
import { estimateCost } from '../../scripts/cost/estimate.ts';
import { loadPrices } from '../../scripts/cost/prices.ts';
import { planCommand } from '../../scripts/plan/cli.ts';
import { runProgram } from '../../scripts/plan/harness.ts';
import type { RecordedResource } from '../../scripts/plan/harness.ts';
import { configFor } from './helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const table = loadPrices();
const r = (type: string, inputs: Record<string, unknown>, name = 'x', id?: string): RecordedResource => ({
  type,
  name,
  urn: `urn:${name}`,
  custom: true,
  inputs,
  secrets: [],
  options: { ignoreChanges: [], dependsOn: [] },
  id,
});
const lt = (instanceType: string, gb = 100) =>
  r(
    'aws:ec2/launchTemplate:LaunchTemplate',
    { instanceType, blockDeviceMappings: [{ ebs: { volumeSize: gb, volumeType: 'gp3' } }] },
    'lt',
    'lt-1',
  );

describe('cost estimate', () => {
  test('on-demand fleet: instance price × count × 730 h plus root volumes, and the maxSize bound', () => {
    const asg = r('aws:autoscaling/group:Group', {
      desiredCapacity: 2,
      minSize: 2,
      maxSize: 4,
      launchTemplate: { id: 'lt-1' },
    });
    const est = estimateCost([lt('c6i.xlarge'), asg], { target: 'aws', region: 'eu-west-1', table });
    const ec2 = 2 * table.regions['eu-west-1']!.ec2Hour['c6i.xlarge']! * 730;
    const ebs = 2 * 100 * table.regions['eu-west-1']!.ebsGbMonth.gp3!;
    assert.equal(est.totalUsd.toFixed(2), (ec2 + ebs).toFixed(2));
    assert.equal(est.atMaxUsd.toFixed(2), (2 * (ec2 + ebs)).toFixed(2));
    const us = estimateCost([lt('c6i.xlarge'), asg], { target: 'aws', region: 'us-east-1', table });
    assert.ok(us.totalUsd < est.totalUsd, 'us-east-1 is cheaper than eu-west-1 for this type');
  });

  test('spot: the mean of the override types × the table spot factor', () => {
    const asg = r('aws:autoscaling/group:Group', {
      desiredCapacity: 1,
      mixedInstancesPolicy: {
        instancesDistribution: { onDemandPercentageAboveBaseCapacity: 0 },
        launchTemplate: { overrides: [{ instanceType: 't3.medium' }, { instanceType: 'c5.large' }] },
      },
    });
    const p = table.regions['us-east-1']!.ec2Hour;
    const est = estimateCost([lt('t3.medium', 50), asg], { target: 'aws', region: 'us-east-1', table });
    const compute = est.lines.find((l) => l.item.startsWith('EC2 spot'))!;
    assert.equal(
      compute.monthlyUsd.toFixed(4),
      (((p['t3.medium']! + p['c5.large']!) / 2) * table.assumptions.spotFactor * 730).toFixed(4),
    );
  });

  test('RDS Multi-AZ doubles instance and storage; ElastiCache counts nodes; NAT and S3 by GB', () => {
    const p = table.regions['us-east-1']!;
    const est = estimateCost(
      [
        r('aws:rds/instance:Instance', {
          instanceClass: 'db.t4g.small',
          allocatedStorage: 100,
          multiAz: true,
        }),
        r('aws:elasticache/replicationGroup:ReplicationGroup', {
          nodeType: 'cache.t4g.small',
          numCacheClusters: 2,
        }),
        r('aws:ec2/natGateway:NatGateway', {}),
        r('aws:s3/bucket:Bucket', {}),
      ],
      { target: 'aws', region: 'us-east-1', table, s3Gb: 1000 },
    );
    const want =
      2 * p.rdsHour['db.t4g.small']! * 730 +
      2 * 100 * p.rdsStorageGbMonth +
      2 * p.elasticacheHour['cache.t4g.small']! * 730 +
      p.natGatewayHour * 730 +
      1000 * p.s3StandardGbMonth;
    assert.equal(est.totalUsd.toFixed(2), want.toFixed(2));
  });

  test('the Firehose log archive and VPC flow logs are priced per GB at the table’s assumed volumes', () => {
    const p = table.regions['eu-west-1']!;
    const est = estimateCost(
      [
        r('aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream', {}, 'archive'),
        r('aws:ec2/flowLog:FlowLog', {}, 'flow'),
      ],
      { target: 'aws', region: 'eu-west-1', table },
    );
    const { archivedLogGb, flowLogGb } = table.assumptions;
    assert.ok(archivedLogGb > 0 && flowLogGb > 0);
    assert.deepEqual(
      est.lines.map((l) => [l.item, l.monthlyUsd.toFixed(4)]),
      [
        [
          `Firehose log archive, ${archivedLogGb} GB/month (assumed)`,
          (p.firehoseGb * archivedLogGb).toFixed(4),
        ],
        [`VPC flow logs to S3, ${flowLogGb} GB/month (assumed)`, (p.vendedLogsS3Gb * flowLogGb).toFixed(4)],
      ],
    );
    assert.ok(est.totalUsd > 0);
  });

  test('KMS keys per key; DLM snapshots as one full copy of the volumes its target tags select', () => {
    const p = table.regions['us-east-1']!;
    const tagged = (size: number, tags: Record<string, string>, name: string) =>
      r('aws:ebs/volume:Volume', { size, tags }, name);
    const est = estimateCost(
      [
        r('aws:kms/key:Key', {}, 'key'),
        tagged(20, { 'clawstack-snapshot': 'dev-data', stack: 'dev' }, 'data'),
        tagged(500, { stack: 'dev' }, 'other'),
        r(
          'aws:dlm/lifecyclePolicy:LifecyclePolicy',
          {
            policyDetails: {
              targetTags: { 'clawstack-snapshot': 'dev-data' },
              schedules: [{ retainRule: { count: 7 } }],
            },
          },
          'snapshots',
        ),
      ],
      { target: 'aws', region: 'us-east-1', table },
    );
    const line = (re: RegExp) => est.lines.find((l) => re.test(l.item))!;
    assert.equal(line(/^KMS/).monthlyUsd, p.kmsKeyMonth);
    const snap = line(/^EBS snapshots/);
    assert.equal(
      snap.item,
      'EBS snapshots of 20 GB, 7 kept (one full copy assumed; changed blocks not included)',
    );
    assert.equal(snap.monthlyUsd, 20 * p.ebsSnapshotGbMonth);
  });

  test('CloudWatch custom metrics from the AWS program: agent host metrics per instance and group, app metrics, filters, the traffic function', async () => {
    const p = table.regions['us-east-1']!;
    for (const tier of ['lightweight', 'gpu'] as const) {
      const run = await runProgram(
        configFor(
          // Scaling out needs managed data; lightweight stays one instance.
          { tier, capacity: 'spot', dataServices: tier === 'gpu' ? 'managed' : 'colocated' },
          { minSize: 1, maxSize: tier === 'gpu' ? 3 : 1 },
        ),
      );
      assert.equal(run.error, undefined, run.error?.message);
      const est = estimateCost(run.resources, { target: 'aws', region: 'us-east-1', table });
      const metrics = est.lines.filter((l) => l.item.startsWith('CloudWatch custom metrics'));
      // mem_available, mem_used_percent and disk used_percent on /; on gpu also three nvidia_gpu ones.
      const host = tier === 'gpu' ? 6 : 3;
      // requests: 4 status classes + all; latency: 3 quantiles; queue depth: 3 priorities; jobs: 2 statuses.
      const app = 5 + 3 + 3 + 2;
      // lightweight has no ALB: three log metric filters; the traffic comparison publishes one metric.
      const filters = tier === 'lightweight' ? 3 : 0;
      assert.deepEqual(
        metrics.map((l) => l.item).sort(),
        [
          `CloudWatch custom metrics: agent host metrics ${host} × (1 instance(s) + group)`,
          `CloudWatch custom metrics: app metrics via the agent (EMF) × ${app}`,
          'CloudWatch custom metrics: RequestCountVsDayBefore (published by a function)',
          ...Array<string>(filters).fill('CloudWatch custom metrics: log metric filter'),
        ].sort(),
      );
      const total = metrics.reduce((a, l) => a + l.monthlyUsd, 0);
      assert.equal(total.toFixed(2), ((host * 2 + app + filters + 1) * p.customMetricMonth).toFixed(2));
      // At maxSize each further instance brings its compute, root volume and host metrics.
      const fleet = est.lines
        .filter((l) => /^(EC2|EBS gp3 \d+ GB root)/.test(l.item))
        .reduce((a, l) => a + l.monthlyUsd, 0);
      const extra = tier === 'gpu' ? 2 : 0;
      assert.equal(
        (est.atMaxUsd - est.totalUsd).toFixed(2),
        (extra * (fleet + host * p.customMetricMonth)).toFixed(2),
      );
    }
    // A dimension the table has no value count for is an error, not a silent zero.
    assert.throws(
      () =>
        appMetrics({
          logs: {
            metrics_collected: {
              prometheus: {
                emf_processor: { metric_declaration: [{ dimensions: [['route']], metric_selectors: ['x'] }] },
              },
            },
          },
        }),
      /no value count for EMF dimension route/,
    );
  });

  test('a type the table lacks is flagged, not silently free; a region it lacks is named', () => {
    const est = estimateCost([r('aws:ec2/instance:Instance', { instanceType: 'x9.huge' })], {
      target: 'aws',
      region: 'us-east-1',
      table,
    });
    assert.match(est.lines[0]!.unpriced!, /no price for EC2 x9\.huge/);
    const far = estimateCost([], { target: 'aws', region: 'ap-south-2', table });
    assert.match(far.notEstimated!, /no region ap-south-2 .*override file/);
  });

  test('kubernetes and docker: not estimated, with the reason', () => {
    assert.match(
      estimateCost([], { target: 'kubernetes', region: 'us-east-1', table }).notEstimated!,
      /existing cluster/,
    );
    assert.match(
      estimateCost([], { target: 'docker', region: 'us-east-1', table }).notEstimated!,
      /no cloud bill/,
    );
  });

  test('the table is dated and names its source; an override file replaces single prices', () => {
    assert.match(table.retrieved, /^\d{4}-\d{2}-\d{2}$/);
    assert.match(table.source, /AWS/);
    assert.ok(table.regions['eu-west-1'] && table.regions['us-east-1']);
    const dir = mkdtempSync(path.join(tmpdir(), 'prices-'));
    const file = path.join(dir, 'o.yaml');
    writeFileSync(
      file,
      'assumptions:\n  spotFactor: 0.5\nregions:\n  us-east-1:\n    ec2Hour:\n      t3.medium: 1\n',
    );
    const over = loadPrices(file);
    assert.equal(over.assumptions.spotFactor, 0.5);
    assert.equal(over.regions['us-east-1']!.ec2Hour['t3.medium'], 1);
    assert.equal(
      over.regions['us-east-1']!.ec2Hour['c5.large'],
      table.regions['us-east-1']!.ec2Hour['c5.large'],
    );
    writeFileSync(file, 'hoursPerMonth: -1\n');
    assert.throws(() => loadPrices(file), /hoursPerMonth/);
  });
});

async function plan(...args: string[]) {
  const lines: string[] = [];
  const code = await planCommand(args, { log: (t) => lines.push(t), error: (t) => lines.push(t) });
  return { code, text: lines.join('\n') };
}

describe('cost in the offline plan', () => {
  test('npm run plan prints an estimate with region, dated source and a total', async () => {
    const { code, text } = await plan('--stack', 'prod');
    assert.equal(code, 0);
    assert.match(
      text,
      /ESTIMATED MONTHLY COST \(an estimate, not a bill\) — eu-west-1 list prices .* retrieved \d{4}-\d{2}-\d{2}/,
    );
    assert.match(text, /EC2 c6i\.xlarge × 2 \(on-demand\)/);
    assert.match(text, /RDS db\.m7g\.large Multi-AZ/);
    assert.match(
      text,
      /\$\d+\.\d\d {2}per month at the desired size; \$\d+\.\d\d if the fleet scales to maxSize/,
    );
    assert.match(text, /not included: data transfer/);
  });

  test('--compare tier=gpu prints the cost difference next to the resource difference', async () => {
    const { code, text } = await plan('--stack', 'dev', '--compare', 'tier=gpu');
    assert.equal(code, 0);
    const resources = text.indexOf('resources: ');
    const cost = text.indexOf('ESTIMATED MONTHLY COST');
    assert.ok(resources >= 0 && cost > resources);
    const m = /\$(\d+\.\d\d) → \$(\d+\.\d\d) per month: \+\$(\d+\.\d\d) \(\+\d+ %\)/.exec(text);
    assert.ok(m, text.slice(cost));
    assert.equal((Number(m[2]) - Number(m[1])).toFixed(2), m[3]);
    assert.match(text, /\+ \$\d+\.\d\d {2}EC2 spot over g4dn\.xlarge/);
    assert.match(text, /\+ \$\d+\.\d\d {2}NAT gateway/);
  });
});

describe('npm run cost (Cost Explorer)', () => {
  test('queries: the window, the project filter, service and stack × tier grouping', () => {
    const [service, tags] = costQueries(30, new Date('2026-11-30T15:00:00Z'));
    assert.deepEqual(service!.TimePeriod, { Start: '2026-10-31', End: '2026-11-30' });
    assert.deepEqual(service!.GroupBy, [{ Type: 'DIMENSION', Key: 'SERVICE' }]);
    assert.deepEqual(
      tags!.GroupBy!.map((g) => g.Key),
      ['stack', 'tier'],
    );
    assert.deepEqual(service!.Filter!.Tags!.Values, ['clawstack']);
    assert.deepEqual(costQueries(7, new Date(), 'prod')[0]!.Filter!.Tags, {
      Key: 'stack',
      Values: ['prod'],
      MatchOptions: ['EQUALS'],
    });
  });

  test('responses are summed across months and tag keys shown as key=value', () => {
    const byTags = sumGroups({
      ResultsByTime: [
        {
          Groups: [
            {
              Keys: ['stack$prod', 'tier$general'],
              Metrics: { UnblendedCost: { Amount: '10.5', Unit: 'USD' } },
            },
          ],
        },
        {
          Groups: [
            {
              Keys: ['stack$prod', 'tier$general'],
              Metrics: { UnblendedCost: { Amount: '4.5', Unit: 'USD' } },
            },
            { Keys: ['stack$', 'tier$'], Metrics: { UnblendedCost: { Amount: '1', Unit: 'USD' } } },
          ],
        },
      ],
    });
    assert.deepEqual(
      [...byTags],
      [
        ['stack=prod tier=general', 15],
        ['stack=(untagged) tier=(untagged)', 1],
      ],
    );
    const text = renderSpend(30, new Map([['Amazon EC2', 12]]), byTags).join('\n');
    assert.match(text, /ACTUAL SPEND, last 30 days .*: \$12\.00/);
    assert.match(text, /\$ +15\.00 {2}stack=prod tier=general/);
  });

  test('without credentials: exit 2 and a message saying how to provide them (no network)', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'nocreds-'));
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: path.join(home, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none'),
    };
    const err = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/cost.ts', '--days', '30'],
      {
        cwd: ROOT,
        env,
        encoding: 'utf8',
      },
    ).then(
      () => assert.fail('expected exit 2'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.match(err.stderr, /no AWS credentials found, so Cost Explorer cannot be asked/);
    assert.match(err.stderr, /ce:GetCostAndUsage/);
  });
});
