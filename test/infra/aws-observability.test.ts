/**
 * Issue 10 #9 and #12 and the protection keys, as declared under Pulumi mocks: the logs users keep
 * reach the bucket (CloudWatch subscription → Firehose → S3, gzip, large buffers) and expire from it;
 * the CloudWatch agent scrapes the app's /metrics into CloudWatch, and every metric an alarm or a
 * scaling policy reads is one the agent (or another declared source) emits; the GPU tier scales on
 * queue backlog and GPU utilisation, not CPU alone; ALB access logs, VPC flow logs and ALB deletion
 * protection are on in production stacks; applyImmediately; DLM snapshots of the data volume; the
 * bootstrap key is a secret stack output.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { Metrics } from '../../app/src/telemetry/metrics.ts';
import { TIERS } from '../../infra/tiers.ts';
import { elbLogWriter, ELB_ACCOUNTS } from '../../infra/targets/aws/log-delivery.ts';
import { MOCK_SECRET_MARKER, ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { configFor, userDataOf } from './helpers.ts';
import type { Combination } from './helpers.ts';

type Json = Record<string, unknown>;
const j = (v: unknown) => v as Json;
const arr = (v: unknown) => (Array.isArray(v) ? (v as Json[]) : []);
const LIGHT: Combination = { tier: 'lightweight', capacity: 'spot', dataServices: 'colocated' };
const GENERAL: Combination = { tier: 'general', capacity: 'spot', dataServices: 'managed' };
const GPU: Combination = { tier: 'gpu', capacity: 'on-demand', dataServices: 'managed' };
const PROD: Combination = { tier: 'general', capacity: 'on-demand', dataServices: 'managed' };
const dependsOn = (r: RecordedResource, target: RecordedResource) => r.options.dependsOn.includes(target.urn);
const policyOf = (r: RecordedResource, key = 'policy') =>
  JSON.parse(String(r.inputs[key])) as { Statement: Json[] };

async function ok(config: Record<string, unknown>, stack = 'test'): Promise<ProgramRun> {
  const run = await runProgram(config, { stack });
  assert.equal(run.error, undefined, run.error?.message);
  return run;
}

function writeFiles(run: ProgramRun): Record<string, string> {
  const doc = parse(userDataOf(run)) as { write_files: { path: string; content: string }[] };
  return Object.fromEntries(doc.write_files.map((f) => [f.path, f.content]));
}

interface AgentConfig {
  agent: Json;
  metrics: {
    namespace: string;
    append_dimensions: Json;
    aggregation_dimensions: string[][];
    metrics_collected: Record<string, { measurement: string[] }>;
  };
  logs: {
    logs_collected: { files: { collect_list: Json[] } };
    metrics_collected: {
      prometheus: {
        cluster_name: string;
        log_group_name: string;
        prometheus_config_path: string;
        emf_processor: {
          metric_namespace: string;
          metric_unit: Record<string, string>;
          metric_declaration: {
            source_labels: string[];
            label_matcher: string;
            dimensions: string[][];
            metric_selectors: string[];
          }[];
        };
      };
    };
    force_flush_interval: number;
  };
}
const agentOf = (run: ProgramRun) =>
  JSON.parse(
    writeFiles(run)['/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json']!,
  ) as AgentConfig;

/** The agent's host-metric names: `<section>_<measurement>` (nvidia_gpu reports as nvidia_smi_…). */
function hostMetricNames(agent: AgentConfig): Set<string> {
  const names = new Set<string>();
  for (const [section, def] of Object.entries(agent.metrics.metrics_collected)) {
    const prefix = section === 'nvidia_gpu' ? 'nvidia_smi' : section;
    for (const m of def.measurement) names.add(m.startsWith(`${prefix}_`) ? m : `${prefix}_${m}`);
  }
  return names;
}

interface Ref {
  where: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
}

/** Every metric an alarm or a scaling policy reads. */
function metricRefs(run: ProgramRun): Ref[] {
  const refs: Ref[] = [];
  for (const a of ofType(run, 'aws:cloudwatch/metricAlarm:MetricAlarm')) {
    const i = a.inputs;
    if (i.metricName)
      refs.push({
        where: a.name,
        namespace: String(i.namespace),
        metricName: String(i.metricName),
        dimensions: j(i.dimensions ?? {}) as Record<string, string>,
      });
    for (const q of arr(i.metricQueries))
      if (q.metric) {
        const m = j(q.metric);
        refs.push({
          where: a.name,
          namespace: String(m.namespace),
          metricName: String(m.metricName),
          dimensions: j(m.dimensions ?? {}) as Record<string, string>,
        });
      }
  }
  for (const p of ofType(run, 'aws:autoscaling/policy:Policy')) {
    const c = j(j(p.inputs.targetTrackingConfiguration).customizedMetricSpecification);
    if (!c) continue;
    const dims = (list: unknown) =>
      Object.fromEntries(arr(list).map((d) => [String(d.name), String(d.value)]));
    if (c.metricName)
      refs.push({
        where: p.name,
        namespace: String(c.namespace),
        metricName: String(c.metricName),
        dimensions: dims(c.metricDimensions),
      });
    for (const m of arr(c.metrics))
      if (m.metricStat) {
        const metric = j(j(m.metricStat).metric);
        refs.push({
          where: p.name,
          namespace: String(metric.namespace),
          metricName: String(metric.metricName),
          dimensions: dims(metric.dimensions),
        });
      }
  }
  return refs;
}

const sameKeys = (a: string[], b: string[]) => [...a].sort().join(',') === [...b].sort().join(',');

/** Does a declared source emit `ref` under exactly these dimensions? Empty when it does; else why not. */
function emitted(ref: Ref, run: ProgramRun, agent: AgentConfig): string {
  const keys = Object.keys(ref.dimensions);
  if (ref.namespace.startsWith('AWS/')) return '';
  if (ref.namespace === 'CWAgent') {
    if (!hostMetricNames(agent).has(ref.metricName)) return `the agent collects no ${ref.metricName}`;
    return agent.metrics.aggregation_dimensions.some((d) => sameKeys(d, keys))
      ? ''
      : `no aggregation over ${keys.join(',')}`;
  }
  const emf = agent.logs.metrics_collected.prometheus.emf_processor;
  if (ref.namespace !== emf.metric_namespace)
    return `namespace ${ref.namespace} is not the agent's ${emf.metric_namespace}`;
  const fromFilter = ofType(run, 'aws:cloudwatch/logMetricFilter:LogMetricFilter').some(
    (f) => j(f.inputs.metricTransformation).name === ref.metricName && keys.length === 0,
  );
  const fromLambda = ref.metricName === 'RequestCountVsDayBefore' && sameKeys(keys, ['Stack']);
  if (fromFilter || fromLambda) return '';
  const declared = emf.metric_declaration.some(
    (d) =>
      d.metric_selectors.some((s) => new RegExp(s).test(ref.metricName)) &&
      d.dimensions.some((set) => sameKeys(set, keys)) &&
      new RegExp(d.label_matcher).test(ref.dimensions[d.source_labels[0]!] ?? ''),
  );
  return declared ? '' : `no EMF declaration emits ${ref.metricName} by ${keys.join(',')}`;
}

for (const combo of [LIGHT, GENERAL, GPU]) {
  describe(`aws observability: ${combo.tier} × ${combo.capacity} × ${combo.dataServices}`, () => {
    let run: ProgramRun;
    before(async () => {
      run = await ok(configFor(combo));
    });

    test('#9 every app log group is subscribed to a Firehose stream that writes gzip objects under logs/<stack>/cloudwatch/', () => {
      const stream = one(run, 'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream');
      const s3 = j(stream.inputs.extendedS3Configuration);
      assert.equal(stream.inputs.destination, 'extended_s3');
      assert.equal(
        s3.bucketArn,
        `arn:aws:s3:::${String(run.outputs.details && j(run.outputs.details).bucket)}`,
      );
      assert.equal(s3.prefix, 'logs/test/cloudwatch/!{timestamp:yyyy/MM/dd}/');
      assert.match(String(s3.errorOutputPrefix), /^logs\/test\/cloudwatch-errors\//);
      assert.deepEqual([s3.compressionFormat, s3.bufferingSize, s3.bufferingInterval], ['GZIP', 128, 900]);
      const processors = arr(j(s3.processingConfiguration).processors).map((p) => p.type);
      assert.deepEqual(processors, ['Decompression', 'CloudWatchLogProcessing']);

      const groups = ofType(run, 'aws:cloudwatch/logGroup:LogGroup').map((g) => String(g.inputs.name));
      const roles =
        combo.dataServices === 'colocated'
          ? ['api', 'worker', 'postgres', 'redis', 'system']
          : ['api', 'worker', 'system'];
      const filters = ofType(run, 'aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter');
      assert.deepEqual(
        filters.map((f) => f.inputs.logGroup).sort(),
        roles.map((r) => `/clawstack/test/${r}`).sort(),
      );
      for (const g of filters.map((f) => String(f.inputs.logGroup)))
        assert.ok(groups.includes(g), `${g} is created by the stack`);
      const logsPolicy = one(run, 'aws:iam/rolePolicy:RolePolicy', 'logs-to-firehose-policy');
      for (const f of filters) {
        assert.ok(
          String(f.inputs.destinationArn).endsWith(`:${stream.name}`),
          String(f.inputs.destinationArn),
        );
        assert.equal(f.inputs.filterPattern, '');
        assert.ok(dependsOn(f, logsPolicy), `${f.name} waits for the role CloudWatch Logs uses`);
      }
      // The Caddy access log is archived from the instance's files; the EMF log group is metrics only.
      assert.ok(!filters.some((f) => /\/(edge|metrics)$/.test(String(f.inputs.logGroup))));
    });

    test('#9 least privilege: Firehose writes only under logs/<stack>/, CloudWatch Logs puts only into this stream', () => {
      const firehoseRole = one(run, 'aws:iam/role:Role', '-test-firehose-role');
      const trust = policyOf(firehoseRole, 'assumeRolePolicy').Statement[0]!;
      assert.deepEqual(j(trust.Principal), { Service: 'firehose.amazonaws.com' });
      assert.deepEqual(j(trust.Condition), { StringEquals: { 'sts:ExternalId': '123456789012' } });
      const write = policyOf(one(run, 'aws:iam/rolePolicy:RolePolicy', '-test-firehose-policy')).Statement;
      assert.ok(!JSON.stringify(write).includes('s3:*'));
      const put = write.find((s) => JSON.stringify(s.Action).includes('s3:PutObject'))!;
      assert.match(String(put.Resource), /^arn:aws:s3:::clawstack-test-bucket-[0-9a-f]+\/logs\/test\/\*$/);
      assert.ok(
        dependsOn(
          one(run, 'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream'),
          one(run, 'aws:iam/rolePolicy:RolePolicy', '-test-firehose-policy'),
        ),
      );

      const logsRole = one(run, 'aws:iam/role:Role', 'logs-to-firehose-role');
      const logsTrust = policyOf(logsRole, 'assumeRolePolicy').Statement[0]!;
      assert.deepEqual(j(logsTrust.Principal), { Service: 'logs.amazonaws.com' });
      assert.deepEqual(j(logsTrust.Condition), {
        StringLike: { 'aws:SourceArn': 'arn:aws:logs:us-east-1:123456789012:log-group:/clawstack/test/*' },
      });
      const puts = policyOf(one(run, 'aws:iam/rolePolicy:RolePolicy', 'logs-to-firehose-policy')).Statement;
      assert.deepEqual(
        puts.map((s) => s.Action),
        [['firehose:PutRecord', 'firehose:PutRecordBatch']],
      );
      assert.match(String(puts[0]!.Resource), /log-archive$/);
    });

    test('#9 archived logs move to the archive class, then expire (default 365 days); small objects are not silently skipped for Glacier classes', () => {
      const lifecycle = one(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs;
      assert.equal(lifecycle.transitionDefaultMinimumObjectSize, 'varies_by_storage_class');
      const rule = arr(lifecycle.rules).find((r) => r.id === 'archive-logs')!;
      assert.equal(j(rule.filter).prefix, 'logs/');
      assert.deepEqual(arr(rule.transitions), [{ days: 30, storageClass: 'GLACIER_IR' }]);
      assert.deepEqual(rule.expiration, { days: 365 });
    });

    test('#12 the CloudWatch agent scrapes the api and the worker on the loopback and ships the app metrics as EMF', () => {
      const files = writeFiles(run);
      const agent = agentOf(run);
      const prometheus = agent.logs.metrics_collected.prometheus;
      const scrape = parse(files[prometheus.prometheus_config_path]!) as {
        scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
      };
      const targets = Object.fromEntries(
        scrape.scrape_configs.map((c) => [
          c.job_name,
          [c.metrics_path, ...c.static_configs.flatMap((s) => s.targets)],
        ]),
      );
      assert.deepEqual(targets, {
        'clawstack-api': ['/metrics', '127.0.0.1:8080'],
        'clawstack-worker': ['/metrics', '127.0.0.1:9102'],
      });
      // The worker's port is published on the loopback only; nothing else can reach it.
      assert.match(files['/etc/systemd/system/clawstack-worker.service']!, / -p 127\.0\.0\.1:9102:8080 /);
      assert.doesNotMatch(files['/etc/systemd/system/clawstack-worker.service']!, / -p (0\.0\.0\.0:)?\d+:/);
      assert.equal(prometheus.emf_processor.metric_namespace, 'Clawstack/test');
      assert.equal(prometheus.log_group_name, '/clawstack/test/metrics');
      const metricsGroup = one(run, 'aws:cloudwatch/logGroup:LogGroup', 'logs-metrics').inputs;
      assert.equal(metricsGroup.name, prometheus.log_group_name);
      assert.ok(Number(metricsGroup.retentionInDays) <= 7);
      assert.equal(agent.metrics.metrics_collected.nvidia_gpu !== undefined, combo.tier === 'gpu');
      const runcmd = (parse(userDataOf(run)) as { runcmd: string[][] }).runcmd;
      assert.ok(
        runcmd.some(
          (c) =>
            c.includes('fetch-config') &&
            c.includes('file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json'),
        ),
      );
    });

    test('#12 the agent configuration has the agent schema’s shape, and selects only metrics the app exports in a shape the agent keeps', async () => {
      const agent = agentOf(run);
      assert.deepEqual(Object.keys(agent).sort(), ['agent', 'logs', 'metrics']);
      assert.equal(agent.agent.metrics_collection_interval, 60);
      assert.deepEqual(Object.keys(agent.logs).sort(), [
        'force_flush_interval',
        'logs_collected',
        'metrics_collected',
      ]);
      for (const f of agent.logs.logs_collected.files.collect_list)
        assert.deepEqual(Object.keys(f).sort(), ['file_path', 'log_group_name', 'log_stream_name']);
      for (const [section, def] of Object.entries(agent.metrics.metrics_collected)) {
        assert.ok(['mem', 'disk', 'cpu', 'nvidia_gpu', 'swap', 'net'].includes(section), section);
        assert.ok(Array.isArray(def.measurement) && def.measurement.length > 0, section);
      }
      const emf = agent.logs.metrics_collected.prometheus.emf_processor;
      const registry = new Metrics('api').registry;
      const exported = new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
      const labels = new Map(
        registry
          .getMetricsAsArray()
          .map((m) => [
            (m as unknown as { name: string }).name,
            (m as unknown as { labelNames: string[] }).labelNames,
          ]),
      );
      assert.ok(emf.metric_declaration.length >= 4);
      for (const d of emf.metric_declaration) {
        assert.deepEqual(d.source_labels, ['job']);
        assert.ok(
          new RegExp(d.label_matcher).test('clawstack-api') ||
            new RegExp(d.label_matcher).test('clawstack-worker'),
        );
        assert.ok(
          d.dimensions.length > 0 && d.dimensions.every((set) => Array.isArray(set) && set.length > 0),
        );
        for (const selector of d.metric_selectors) {
          const names = [...exported.keys()].filter((n) => new RegExp(selector).test(n));
          assert.equal(names.length, 1, `${selector} selects exactly one exported metric`);
          const name = names[0]!;
          // The agent drops Prometheus histograms: a selected metric must be a counter, gauge or summary.
          assert.ok(
            ['counter', 'gauge', 'summary'].includes(exported.get(name)!),
            `${name} is a ${exported.get(name)}`,
          );
          const known = new Set([
            ...labels.get(name)!,
            'job',
            ...(exported.get(name) === 'summary' ? ['quantile'] : []),
            ...(labels.get(name)!.includes('status') ? ['status_class'] : []),
          ]);
          for (const dim of d.dimensions.flat()) assert.ok(known.has(dim), `${name} has no label ${dim}`);
          assert.ok(emf.metric_unit[name], `${name} has a unit`);
        }
      }
    });

    test('#12 every metric an alarm or a scaling policy reads is emitted by the agent (or a log metric filter / the traffic function) under those dimensions', () => {
      const agent = agentOf(run);
      const refs = metricRefs(run);
      assert.ok(
        refs.some((r) => r.namespace === 'Clawstack/test' && r.metricName.startsWith('clawstack_')),
        'some read app metrics',
      );
      for (const r of refs)
        assert.equal(
          emitted(r, run, agent),
          '',
          `${r.where}: ${r.namespace} ${r.metricName} ${JSON.stringify(r.dimensions)}`,
        );
    });

    test(
      combo.tier === 'gpu'
        ? '#12 tier gpu scales on CPU, jobs waiting per instance and GPU utilisation'
        : '#12 the fleet scales on CPU and on jobs waiting per instance',
      () => {
        const policies = ofType(run, 'aws:autoscaling/policy:Policy');
        assert.deepEqual(
          policies.map((p) => p.name.replace('clawstack-test-', '')).sort(),
          combo.tier === 'gpu'
            ? ['backlog-target', 'cpu-target', 'gpu-target']
            : ['backlog-target', 'cpu-target'],
        );
        const backlog = j(
          one(run, 'aws:autoscaling/policy:Policy', 'backlog-target').inputs.targetTrackingConfiguration,
        );
        assert.equal(backlog.targetValue, TIERS[combo.tier].app.workerConcurrency * 2);
        const metrics = arr(j(backlog.customizedMetricSpecification).metrics);
        const out = metrics.filter((m) => m.returnData === true);
        assert.equal(out.length, 1);
        const ids = metrics.filter((m) => m.metricStat).map((m) => String(m.id));
        for (const id of ids) assert.match(String(out[0]!.expression), new RegExp(`\\b${id}\\b`));
        assert.deepEqual(
          metrics
            .filter((m) => m.metricStat)
            .map((m) => j(j(m.metricStat).metric).metricName)
            .sort(),
          [
            'GroupInServiceInstances',
            'clawstack_job_queue_depth',
            'clawstack_job_queue_depth',
            'clawstack_job_queue_depth',
          ],
        );
        if (combo.tier === 'gpu') {
          const gpu = j(
            one(run, 'aws:autoscaling/policy:Policy', 'gpu-target').inputs.targetTrackingConfiguration,
          );
          assert.equal(gpu.targetValue, 70);
          assert.equal(j(gpu.customizedMetricSpecification).metricName, 'nvidia_smi_utilization_gpu');
        }
        const alarm = one(run, 'aws:cloudwatch/metricAlarm:MetricAlarm', 'queue-backlog').inputs;
        assert.equal(alarm.threshold, Number(backlog.targetValue) * 4);
      },
    );

    test('not a production stack: no access logs, no flow logs, no deletion protection, modifications applied at once; the bootstrap key is a secret output', () => {
      assert.equal(ofType(run, 'aws:ec2/flowLog:FlowLog').length, 0);
      for (const lb of ofType(run, 'aws:lb/loadBalancer:LoadBalancer')) {
        assert.equal(lb.inputs.accessLogs, undefined);
        assert.equal(lb.inputs.enableDeletionProtection, false);
      }
      for (const t of ['aws:rds/instance:Instance', 'aws:elasticache/replicationGroup:ReplicationGroup'])
        for (const r of ofType(run, t)) assert.equal(r.inputs.applyImmediately, true, r.name);
      const sids = policyOf(one(run, 'aws:s3/bucketPolicy:BucketPolicy')).Statement.map((s) => s.Sid);
      assert.deepEqual(sids, ['DenyInsecureTransport', 'DenyTlsOlderThan12']);
      assert.ok(String(run.outputs.bootstrapApiKey).startsWith(MOCK_SECRET_MARKER));
      assert.deepEqual(run.secretOutputs, ['bootstrapApiKey']);
      assert.equal(j(run.outputs.details).bootstrapApiKeySecret, 'clawstack-test/bootstrap-api-key');
    });
  });
}

describe('production stacks (named prod, or clawstack:aws.production)', () => {
  let run: ProgramRun;
  before(async () => {
    run = await ok(configFor(PROD), 'prod');
  });

  test('ALB access logs go to logs/<stack>/alb, written by the region’s ELB account, after the bucket policy allows it', () => {
    const lb = one(run, 'aws:lb/loadBalancer:LoadBalancer');
    const bucket = String(j(run.outputs.details).bucket);
    assert.deepEqual(lb.inputs.accessLogs, { bucket, prefix: 'logs/prod/alb', enabled: true });
    assert.equal(lb.inputs.enableDeletionProtection, true);
    const policy = one(run, 'aws:s3/bucketPolicy:BucketPolicy');
    assert.ok(dependsOn(lb, policy));
    const grant = policyOf(policy).Statement.find((s) => s.Sid === 'AlbAccessLogs')!;
    assert.deepEqual(grant.Principal, { AWS: 'arn:aws:iam::127311923021:root' });
    assert.equal(grant.Resource, `arn:aws:s3:::${bucket}/logs/prod/alb/AWSLogs/123456789012/*`);
  });

  test('VPC flow logs go to logs/<stack>/vpc-flow/ after the bucket policy lets the log delivery service write', () => {
    const flow = one(run, 'aws:ec2/flowLog:FlowLog');
    const bucket = String(j(run.outputs.details).bucket);
    assert.equal(flow.inputs.vpcId, one(run, 'aws:ec2/vpc:Vpc').id);
    assert.deepEqual(
      [flow.inputs.logDestinationType, flow.inputs.logDestination, flow.inputs.trafficType],
      ['s3', `arn:aws:s3:::${bucket}/logs/prod/vpc-flow/`, 'ALL'],
    );
    const policy = one(run, 'aws:s3/bucketPolicy:BucketPolicy');
    assert.ok(dependsOn(flow, policy));
    const write = policyOf(policy).Statement.find((s) => s.Sid === 'FlowLogsWrite')!;
    assert.deepEqual(write.Principal, { Service: 'delivery.logs.amazonaws.com' });
    assert.equal(j(j(write.Condition).StringEquals)['aws:SourceAccount'], '123456789012');
    assert.equal(write.Resource, `arn:aws:s3:::${bucket}/logs/prod/vpc-flow/AWSLogs/123456789012/*`);
  });

  test('RDS and ElastiCache wait for the maintenance window; the database refuses deletion', () => {
    for (const t of ['aws:rds/instance:Instance', 'aws:elasticache/replicationGroup:ReplicationGroup'])
      assert.equal(one(run, t).inputs.applyImmediately, false, t);
    assert.equal(one(run, 'aws:rds/instance:Instance').inputs.deletionProtection, true);
  });
});

describe('protection keys follow config', () => {
  test('each production default can be set on any stack, and off on a production one', async () => {
    const on = await ok(
      configFor(PROD, {
        albAccessLogs: true,
        flowLogs: true,
        albDeletionProtection: true,
        applyImmediately: false,
      }),
    );
    assert.equal(j(one(on, 'aws:lb/loadBalancer:LoadBalancer').inputs.accessLogs).enabled, true);
    assert.equal(ofType(on, 'aws:ec2/flowLog:FlowLog').length, 1);
    assert.equal(one(on, 'aws:rds/instance:Instance').inputs.applyImmediately, false);
    const off = await ok(configFor(PROD, { production: false }), 'prod');
    assert.equal(ofType(off, 'aws:ec2/flowLog:FlowLog').length, 0);
    assert.equal(one(off, 'aws:lb/loadBalancer:LoadBalancer').inputs.enableDeletionProtection, false);
    const named = await ok(configFor(PROD, { production: true }));
    assert.equal(ofType(named, 'aws:ec2/flowLog:FlowLog').length, 1);
  });

  test('logArchiveDays, backlogPerInstance and gpuTargetPercent reach the lifecycle rule and the policies', async () => {
    const run = await ok(
      configFor(GPU, { logArchiveDays: 400, backlogPerInstance: 5, gpuTargetPercent: 60 }),
    );
    const rule = arr(
      one(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs.rules,
    ).find((r) => r.id === 'archive-logs')!;
    assert.deepEqual(rule.expiration, { days: 400 });
    assert.equal(
      j(one(run, 'aws:autoscaling/policy:Policy', 'backlog-target').inputs.targetTrackingConfiguration)
        .targetValue,
      5,
    );
    assert.equal(
      j(one(run, 'aws:autoscaling/policy:Policy', 'gpu-target').inputs.targetTrackingConfiguration)
        .targetValue,
      60,
    );
  });

  test('the co-located data volume is snapshotted daily by DLM (by its tag) and, with deletion protection, protected', async () => {
    const run = await ok(configFor(LIGHT, { deletionProtection: true, dataSnapshotDays: 14 }));
    const volume = one(run, 'aws:ebs/volume:Volume');
    assert.equal(volume.options.protect, true);
    const dlm = one(run, 'aws:dlm/lifecyclePolicy:LifecyclePolicy');
    const details = j(dlm.inputs.policyDetails);
    assert.deepEqual(details.resourceTypes, ['VOLUME']);
    for (const [k, v] of Object.entries(j(details.targetTags)))
      assert.equal(j(volume.inputs.tags)[k], v, `the volume carries ${k}`);
    const schedule = arr(details.schedules)[0]!;
    assert.deepEqual(
      [j(schedule.createRule).interval, j(schedule.createRule).intervalUnit, j(schedule.retainRule).count],
      [24, 'HOURS', 14],
    );
    const role = one(run, 'aws:iam/role:Role', 'dlm-role');
    assert.match(
      String(dlm.inputs.executionRoleArn),
      new RegExp(`^arn:aws:iam::123456789012:role/${role.name}-`),
    );
    assert.deepEqual(j(policyOf(role, 'assumeRolePolicy').Statement[0]!.Principal), {
      Service: 'dlm.amazonaws.com',
    });
    assert.ok(
      ofType(run, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').some((a) =>
        String(a.inputs.policyArn).endsWith('/AWSDataLifecycleManagerServiceRole'),
      ),
    );
    const unprotected = await ok(configFor(LIGHT));
    assert.equal(one(unprotected, 'aws:ebs/volume:Volume').options.protect, undefined);
    assert.deepEqual(
      j(
        arr(j(one(unprotected, 'aws:dlm/lifecyclePolicy:LifecyclePolicy').inputs.policyDetails).schedules)[0]!
          .retainRule,
      ),
      { count: 7 },
    );
  });
});

describe('config errors before any resource', () => {
  const cases: { name: string; config: Record<string, unknown>; key: string; allowed: RegExp }[] = [
    {
      name: 'archived logs expiring before they are archived',
      config: configFor(GENERAL, { logArchiveDays: 30 }),
      key: 'clawstack:aws.logArchiveDays',
      allowed: /more than archiveAfterDays \(30\)/,
    },
    {
      name: 'ALB access logs on tier lightweight',
      config: configFor(LIGHT, { albAccessLogs: true }),
      key: 'clawstack:aws.albAccessLogs',
      allowed: /no load balancer/,
    },
    {
      name: 'ALB deletion protection on tier lightweight',
      config: configFor(LIGHT, { albDeletionProtection: true }),
      key: 'clawstack:aws.albDeletionProtection',
      allowed: /no load balancer/,
    },
    {
      name: 'a GPU target on a tier without GPUs',
      config: configFor(GENERAL, { gpuTargetPercent: 60 }),
      key: 'clawstack:aws.gpuTargetPercent',
      allowed: /without GPUs/,
    },
  ];
  for (const c of cases)
    test(`${c.name} → ${c.key}`, async () => {
      const run = await runProgram(c.config);
      assert.equal(run.error?.name, 'StackConfigError', run.error?.message);
      assert.ok(run.error.message.startsWith(`invalid stack config ${c.key} = `), run.error.message);
      assert.match(run.error.message, c.allowed);
      assert.deepEqual(run.resources, []);
    });
});

test('ALB log writer: the ELB account in regions from before August 2022, the log delivery service elsewhere', () => {
  assert.deepEqual(elbLogWriter('eu-west-1'), { AWS: `arn:aws:iam::${ELB_ACCOUNTS['eu-west-1']}:root` });
  assert.deepEqual(elbLogWriter('us-gov-west-1'), { AWS: 'arn:aws-us-gov:iam::048591011584:root' });
  assert.deepEqual(elbLogWriter('ap-southeast-5'), {
    Service: 'logdelivery.elasticloadbalancing.amazonaws.com',
  });
});
