import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { lambdaExecutionRole } from './iam.ts';
import { handlerArchive, LAMBDA_RUNTIME } from './lambdas/bundle.ts';
import { APP_METRICS, SCRAPE_JOBS, stackNamespace } from './metrics-agent.ts';
import type { MetricRef } from './metrics-agent.ts';

/** Alarm thresholds (the issue's numbers; changing them is a code review, not a config knob). */
export const THRESHOLDS = {
  cpuPercent: 85,
  memoryAvailableBytes: 500 * 1024 * 1024,
  latencyP99Seconds: 0.5,
  error5xxPercent: 5,
  /** Alarm when this hour's requests fall below this percentage of the same hour a day earlier. */
  trafficVsDayBeforePercent: 70,
  /** Every "for N minutes" alarm looks at N one-minute periods. */
  minutes: 5,
  /** Alarm when jobs waiting per instance stay above this multiple of the scaling target for 15 minutes. */
  backlogOverTarget: 4,
} as const;

export interface ObservabilityArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Stack name: custom metric namespace `Clawstack/<stack>` and its dimension. */
  stack: string;
  /** Region shown in dashboard widgets and the dashboard URL. */
  region: pulumi.Input<string>;
  /** Log group names by role (created here, before any instance writes to them); `edge` holds Caddy's access log. */
  logGroupNames: Record<string, string>;
  logRetentionDays: number;
  /** The log group of the CloudWatch agent's embedded-metric-format events (the app's metrics). */
  metricsLogGroupName: string;
  /** Jobs waiting per in-service instance (metric math) and the scaling target it is held at. */
  backlog: { metrics: MetricRef[]; expression: string; target: number };
  /** Each address gets an SNS e-mail subscription (confirmed by clicking the link AWS sends). */
  alertEmails: string[];
  /** The fleet's Auto Scaling group name (fixed, so alarms do not wait for the group). */
  asgName: string;
  /** ALB dimensions for request metrics; without them, request metrics come from the `edge` access log. */
  alb?: { loadBalancerArnSuffix: pulumi.Input<string>; targetGroupArnSuffix: pulumi.Input<string> };
  /** Adds the GPU utilisation widget. */
  gpu: boolean;
  /** This account: only its alarms, budgets and schedules may publish or invoke. */
  accountId: pulumi.Input<string>;
}

/**
 * Log groups, the alarm topic, the five alarms, the hourly traffic comparison and a dashboard.
 */
export class Observability extends pulumi.ComponentResource {
  readonly alarmTopicArn: pulumi.Output<string>;
  /** The topic's policy; publishers (the budget) must wait for it. */
  readonly topicPolicy: aws.sns.TopicPolicy;
  readonly dashboardName: pulumi.Output<string>;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly logGroupArns: pulumi.Output<string>[];
  /** Log group names by role, resolved once each group exists. */
  readonly logGroupNames: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: ObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:Observability', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const customNamespace = stackNamespace(args.stack);

    const logGroups = Object.fromEntries(
      Object.entries(args.logGroupNames).map(([k, n]) => [
        k,
        new aws.cloudwatch.LogGroup(
          `${p}-logs-${k}`,
          { name: n, retentionInDays: args.logRetentionDays, tags: args.tags },
          parent,
        ),
      ]),
    );
    this.logGroupArns = Object.values(logGroups).map((g) => g.arn);
    this.logGroupNames = Object.fromEntries(Object.entries(logGroups).map(([k, g]) => [k, g.name]));
    // EMF events only carry metrics: a week is enough to re-read a data point's labels.
    new aws.cloudwatch.LogGroup(
      `${p}-logs-metrics`,
      {
        name: args.metricsLogGroupName,
        retentionInDays: Math.min(7, args.logRetentionDays),
        tags: args.tags,
      },
      parent,
    );

    const topic = new aws.sns.Topic(`${p}-alarms`, { tags: args.tags }, parent);
    this.alarmTopicArn = topic.arn;
    this.topicPolicy = new aws.sns.TopicPolicy(
      `${p}-alarms-policy`,
      {
        arn: topic.arn,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'AlarmsAndBudgets',
              Effect: 'Allow',
              Principal: { Service: ['cloudwatch.amazonaws.com', 'budgets.amazonaws.com'] },
              Action: 'sns:Publish',
              Resource: topic.arn,
              Condition: { StringEquals: { 'aws:SourceAccount': args.accountId } },
            },
          ],
        }),
      },
      parent,
    );
    args.alertEmails.forEach(
      (email, i) =>
        new aws.sns.TopicSubscription(
          `${p}-alarm-email-${i}`,
          { topic: topic.arn, protocol: 'email', endpoint: email },
          parent,
        ),
    );

    // Request metrics: from the ALB, or from metric filters over Caddy's JSON access log.
    type Metric = { namespace: string; metricName: string; dimensions: Record<string, pulumi.Input<string>> };
    let requests: Metric;
    let latency: Metric;
    let errors: Metric[];
    if (args.alb) {
      const lbDims = { LoadBalancer: args.alb.loadBalancerArnSuffix };
      requests = { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: lbDims };
      latency = { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: lbDims };
      errors = [
        { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: lbDims },
        { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_ELB_5XX_Count', dimensions: lbDims },
      ];
    } else {
      const group = logGroups.edge;
      if (!group) throw new Error('Observability needs either alb or an "edge" log group');
      // Metric filters cannot attach constant dimensions; the namespace is per stack instead.
      const dims = {};
      const filter = (n: string, pattern: string, metricName: string, value: string, unit: string) =>
        new aws.cloudwatch.LogMetricFilter(
          `${p}-${n}`,
          {
            logGroupName: group.name,
            pattern,
            metricTransformation: { namespace: customNamespace, name: metricName, value, unit },
          },
          parent,
        );
      // Caddy's access log: {"logger":"http.log.access…","status":200,"duration":0.012,…}
      filter('requests-filter', '{ $.status = * }', 'RequestCount', '1', 'Count');
      filter('5xx-filter', '{ $.status >= 500 }', 'Http5xxCount', '1', 'Count');
      filter('latency-filter', '{ $.duration = * }', 'ResponseTime', '$.duration', 'Seconds');
      requests = { namespace: customNamespace, metricName: 'RequestCount', dimensions: dims };
      latency = { namespace: customNamespace, metricName: 'ResponseTime', dimensions: dims };
      errors = [{ namespace: customNamespace, metricName: 'Http5xxCount', dimensions: dims }];
    }

    const actions = { alarmActions: [topic.arn], okActions: [topic.arn] };
    const everyMinute = {
      period: 60,
      evaluationPeriods: THRESHOLDS.minutes,
      datapointsToAlarm: THRESHOLDS.minutes,
    };
    const asgDims = { AutoScalingGroupName: args.asgName };
    new aws.cloudwatch.MetricAlarm(
      `${p}-cpu-high`,
      {
        alarmDescription: `average CPU above ${THRESHOLDS.cpuPercent}% for ${THRESHOLDS.minutes} minutes`,
        namespace: 'AWS/EC2',
        metricName: 'CPUUtilization',
        dimensions: asgDims,
        statistic: 'Average',
        comparisonOperator: 'GreaterThanThreshold',
        threshold: THRESHOLDS.cpuPercent,
        treatMissingData: 'missing',
        ...everyMinute,
        ...actions,
        tags: args.tags,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${p}-memory-low`,
      {
        alarmDescription: 'available memory below 500 MB on some instance (CloudWatch agent mem_available)',
        namespace: 'CWAgent',
        metricName: 'mem_available',
        dimensions: asgDims,
        statistic: 'Minimum',
        comparisonOperator: 'LessThanThreshold',
        threshold: THRESHOLDS.memoryAvailableBytes,
        treatMissingData: 'missing',
        ...everyMinute,
        ...actions,
        tags: args.tags,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${p}-latency-p99`,
      {
        alarmDescription: `p99 latency above ${THRESHOLDS.latencyP99Seconds * 1000} ms`,
        namespace: latency.namespace,
        metricName: latency.metricName,
        dimensions: latency.dimensions,
        extendedStatistic: 'p99',
        comparisonOperator: 'GreaterThanThreshold',
        threshold: THRESHOLDS.latencyP99Seconds,
        treatMissingData: 'notBreaching',
        ...everyMinute,
        ...actions,
        tags: args.tags,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${p}-5xx-rate`,
      {
        alarmDescription: `5xx responses above ${THRESHOLDS.error5xxPercent}% of requests`,
        comparisonOperator: 'GreaterThanThreshold',
        threshold: THRESHOLDS.error5xxPercent,
        evaluationPeriods: THRESHOLDS.minutes,
        datapointsToAlarm: THRESHOLDS.minutes,
        treatMissingData: 'notBreaching',
        metricQueries: [
          ...errors.map((m, i) => ({
            id: `e${i}`,
            metric: { ...m, period: 60, stat: 'Sum' },
            returnData: false,
          })),
          { id: 'r', metric: { ...requests, period: 60, stat: 'Sum' }, returnData: false },
          {
            id: 'rate',
            expression: `IF(r > 0, 100 * (${errors.map((_, i) => `FILL(e${i}, 0)`).join(' + ')}) / r, 0)`,
            label: '5xx %',
            returnData: true,
          },
        ],
        ...actions,
        tags: args.tags,
      },
      parent,
    );
    new aws.cloudwatch.MetricAlarm(
      `${p}-traffic-drop`,
      {
        alarmDescription: `requests this hour below ${THRESHOLDS.trafficVsDayBeforePercent}% of the same hour a day earlier (down 30 %)`,
        namespace: customNamespace,
        metricName: 'RequestCountVsDayBefore',
        dimensions: { Stack: args.stack },
        statistic: 'Minimum',
        period: 3600,
        evaluationPeriods: 1,
        comparisonOperator: 'LessThanThreshold',
        threshold: THRESHOLDS.trafficVsDayBeforePercent,
        treatMissingData: 'notBreaching',
        ...actions,
        tags: args.tags,
      },
      parent,
    );

    // The app's own metrics (CloudWatch agent, Prometheus → EMF): scaling that cannot keep up.
    const backlog = args.backlog;
    new aws.cloudwatch.MetricAlarm(`${p}-queue-backlog`, backlogAlarm(backlog, actions, args.tags), parent);

    // CloudWatch alarms cannot shift a metric by a day, so a small function compares hourly.
    const fnName = `${p}-traffic-compare`;
    const role = lambdaExecutionRole(`${p}-traffic`, args.tags, parent);
    new aws.iam.RolePolicy(
      `${p}-traffic-policy`,
      {
        role: role.id,
        policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
            {
              Effect: 'Allow',
              Action: 'cloudwatch:PutMetricData',
              Resource: '*',
              Condition: { StringEquals: { 'cloudwatch:namespace': customNamespace } },
            },
          ],
        }),
      },
      parent,
    );
    const fnLogs = new aws.cloudwatch.LogGroup(
      `${p}-traffic-fn-logs`,
      { name: `/aws/lambda/${fnName}`, retentionInDays: args.logRetentionDays, tags: args.tags },
      parent,
    );
    const fn = new aws.lambda.Function(
      `${p}-traffic-compare`,
      {
        name: fnName,
        runtime: LAMBDA_RUNTIME,
        handler: 'index.handler',
        role: role.arn,
        timeout: 30,
        code: handlerArchive('traffic-compare'),
        environment: {
          variables: {
            SOURCE_METRIC: pulumi.jsonStringify({
              Namespace: requests.namespace,
              MetricName: requests.metricName,
              Dimensions: Object.entries(requests.dimensions).map(([Name, Value]) => ({ Name, Value })),
            }),
            TARGET_NAMESPACE: customNamespace,
            STACK: args.stack,
            MIN_REQUESTS: '100',
          },
        },
        tags: args.tags,
      },
      { parent: this, dependsOn: [fnLogs] },
    );
    const hourly = new aws.cloudwatch.EventRule(
      `${p}-traffic-hourly`,
      {
        scheduleExpression: 'cron(5 * * * ? *)',
        description: 'compare request counts with a day earlier',
        tags: args.tags,
      },
      parent,
    );
    new aws.cloudwatch.EventTarget(`${p}-traffic-target`, { rule: hourly.name, arn: fn.arn }, parent);
    new aws.lambda.Permission(
      `${p}-traffic-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: fn.name,
        principal: 'events.amazonaws.com',
        sourceArn: hourly.arn,
        sourceAccount: args.accountId,
      },
      parent,
    );

    const widget = (
      title: string,
      metrics: unknown[],
      x: number,
      y: number,
      extra: Record<string, unknown> = {},
    ) => ({
      type: 'metric',
      x,
      y,
      width: 12,
      height: 6,
      properties: { title, region: args.region, metrics, period: 60, view: 'timeSeries', ...extra },
    });
    const dim = (m: Metric) => Object.entries(m.dimensions).flat();
    const widgets = [
      widget('CPU %', [['AWS/EC2', 'CPUUtilization', 'AutoScalingGroupName', args.asgName]], 0, 0),
      widget(
        'Available memory (bytes)',
        [['CWAgent', 'mem_available', 'AutoScalingGroupName', args.asgName, { stat: 'Minimum' }]],
        12,
        0,
      ),
      widget(
        'Requests',
        [[requests.namespace, requests.metricName, ...dim(requests), { stat: 'Sum' }]],
        0,
        6,
      ),
      widget(
        'Latency p50 / p99 (s)',
        [
          [latency.namespace, latency.metricName, ...dim(latency), { stat: 'p50' }],
          ['...', { stat: 'p99' }],
        ],
        12,
        6,
      ),
      widget(
        '5xx',
        errors.map((m) => [m.namespace, m.metricName, ...dim(m), { stat: 'Sum' }]),
        0,
        12,
      ),
      widget(
        'Instances in service',
        [['AWS/AutoScaling', 'GroupInServiceInstances', 'AutoScalingGroupName', args.asgName]],
        12,
        12,
      ),
      widget(
        'Requests vs a day earlier (%)',
        [[customNamespace, 'RequestCountVsDayBefore', 'Stack', args.stack]],
        0,
        18,
        { period: 3600 },
      ),
    ];
    widgets.push(
      widget(
        'App latency p50 / p99 (s, worst instance)',
        [
          [
            customNamespace,
            APP_METRICS.latency,
            'job',
            SCRAPE_JOBS.api,
            'quantile',
            '0.5',
            { stat: 'Maximum' },
          ],
          ['...', '0.99', { stat: 'Maximum' }],
        ],
        0,
        24,
      ),
      widget(
        'Jobs waiting (by priority) / finished (by status)',
        [
          ...backlog.metrics
            .filter((m) => m.namespace === customNamespace)
            .map((m) => [
              m.namespace,
              m.metricName,
              ...Object.entries(m.dimensions).flat(),
              { stat: m.stat },
            ]),
          [customNamespace, APP_METRICS.jobs, 'job', SCRAPE_JOBS.worker, 'status', 'failed', { stat: 'Sum' }],
        ],
        12,
        24,
      ),
    );
    if (args.gpu)
      widgets.push(
        widget(
          'GPU utilisation %',
          [['CWAgent', 'nvidia_smi_utilization_gpu', 'AutoScalingGroupName', args.asgName]],
          12,
          18,
        ),
      );
    const dashboard = new aws.cloudwatch.Dashboard(
      `${p}-dashboard`,
      { dashboardName: p, dashboardBody: pulumi.jsonStringify({ widgets }) },
      parent,
    );
    this.dashboardName = dashboard.dashboardName;
    this.dashboardUrl = pulumi.interpolate`https://${args.region}.console.aws.amazon.com/cloudwatch/home?region=${args.region}#dashboards:name=${dashboard.dashboardName}`;

    this.registerOutputs({ alarmTopicArn: this.alarmTopicArn, dashboardUrl: this.dashboardUrl });
  }
}

/** Jobs waiting per instance far above the scaling target for 15 minutes: at maxSize, or no capacity. */
function backlogAlarm(
  backlog: ObservabilityArgs['backlog'],
  actions: { alarmActions: pulumi.Input<string>[]; okActions: pulumi.Input<string>[] },
  tags: Record<string, string>,
): aws.cloudwatch.MetricAlarmArgs {
  return {
    alarmDescription: `jobs waiting per instance above ${THRESHOLDS.backlogOverTarget}× the scaling target (${backlog.target}) for 15 minutes: the fleet is at its maximum or cannot get capacity`,
    comparisonOperator: 'GreaterThanThreshold',
    threshold: backlog.target * THRESHOLDS.backlogOverTarget,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    treatMissingData: 'notBreaching',
    metricQueries: [
      ...backlog.metrics.map((m) => ({
        id: m.id,
        metric: {
          namespace: m.namespace,
          metricName: m.metricName,
          dimensions: m.dimensions,
          period: 300,
          stat: m.stat,
        },
        returnData: false,
      })),
      { id: 'backlog', expression: backlog.expression, label: 'jobs waiting per instance', returnData: true },
    ],
    ...actions,
    tags,
  };
}

export interface CostBudgetArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** The budget counts costs tagged `stack=<stack>`. */
  stack: string;
  /** Monthly limit in US dollars. */
  monthlyUsd: number;
  /** Notified at 80 % and 100 % of actual spend and at 100 % of forecast. */
  topicArn: pulumi.Input<string>;
  /** Also notified directly by AWS Budgets. */
  alertEmails: string[];
  /** The topic's policy: the budget validates that it may publish when it is created. */
  topicPolicy?: pulumi.Resource;
}

/**
 * A monthly cost budget over this stack's resources (the `stack` tag must be activated as a cost
 * allocation tag once per account; see docs/infra.md).
 */
export class CostBudget extends pulumi.ComponentResource {
  constructor(name: string, args: CostBudgetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:CostBudget', name, {}, opts);
    const notify = (threshold: number, notificationType: 'ACTUAL' | 'FORECASTED') => ({
      comparisonOperator: 'GREATER_THAN',
      threshold,
      thresholdType: 'PERCENTAGE',
      notificationType,
      subscriberSnsTopicArns: [args.topicArn],
      subscriberEmailAddresses: args.alertEmails.length ? args.alertEmails : undefined,
    });
    new aws.budgets.Budget(
      `${args.prefix}-budget`,
      {
        name: `${args.prefix}-monthly`,
        budgetType: 'COST',
        limitAmount: args.monthlyUsd.toFixed(2),
        limitUnit: 'USD',
        timeUnit: 'MONTHLY',
        costFilters: [{ name: 'TagKeyValue', values: [`user:stack$${args.stack}`] }],
        notifications: [notify(80, 'ACTUAL'), notify(100, 'ACTUAL'), notify(100, 'FORECASTED')],
        tags: args.tags,
      },
      { parent: this, dependsOn: args.topicPolicy ? [args.topicPolicy] : [] },
    );
    this.registerOutputs({});
  }
}
