/**
 * CloudWatch custom metrics, which CloudWatch bills per metric and month: what the CloudWatch agent
 * publishes (read from the agent configuration in the launch template's user-data, so the estimate
 * follows infra/targets/aws/files/amazon-cloudwatch-agent.json), the log metric filters, and metrics
 * alarms read from the stack's own namespace that nothing else here publishes (the traffic comparison).
 * Pure: resources in, priced lines out.
 */
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { AGENT_CONFIG_PATH, QUEUE_PRIORITIES } from '../../infra/targets/aws/metrics-agent.ts';
import type { RecordedResource } from '../plan/harness.ts';
import type { CostLine, PriceContext } from './estimate.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * How many values each label of an EMF dimension set takes: one scrape job per declaration, the
 * status classes 2xx–5xx (the scrape's relabel), the latency summary's three percentiles
 * (app/src/telemetry/metrics.ts), the queue priorities, and a job's final status (succeeded, failed).
 */
export const LABEL_VALUES: Record<string, number> = {
  job: 1,
  status_class: 4,
  quantile: 3,
  priority: QUEUE_PRIORITIES.length,
  status: 2,
};

/** The agent configuration a launch template's user-data (base64 gzip of #cloud-config) writes. */
export function agentConfigOf(launchTemplate: RecordedResource | undefined): Json | undefined {
  const data = launchTemplate?.inputs.userData;
  if (typeof data !== 'string') return undefined;
  let doc: Json;
  try {
    doc = parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8')) as Json;
  } catch {
    return undefined;
  }
  const file = ((doc?.write_files ?? []) as Json[]).find((f) => f.path === AGENT_CONFIG_PATH);
  return file ? (JSON.parse(String(file.content)) as Json) : undefined;
}

/** Host metrics of one instance: each measurement × each resource it watches (`/` for disk). */
export function hostMetricsPerInstance(config: Json): number {
  return Object.values((config.metrics?.metrics_collected ?? {}) as Record<string, Json>).reduce(
    (n, plugin) => n + (plugin.measurement?.length ?? 0) * (plugin.resources?.length ?? 1),
    0,
  );
}

/** App metrics as EMF: per declaration, per selected metric, each dimension set's label combinations. */
export function appMetrics(config: Json): number {
  const declarations = (config.logs?.metrics_collected?.prometheus?.emf_processor?.metric_declaration ??
    []) as Json[];
  return declarations.reduce((n, d) => {
    const sets = (d.dimensions ?? []) as string[][];
    const series = sets.reduce((m, set) => {
      const unknown = set.filter((label) => LABEL_VALUES[label] === undefined);
      if (unknown.length)
        throw new Error(`cost: no value count for EMF dimension ${unknown.join(', ')} (LABEL_VALUES)`);
      return m + set.reduce((p, label) => p * LABEL_VALUES[label]!, 1);
    }, 0);
    return n + series * ((d.metric_selectors ?? []) as string[]).length;
  }, 0);
}

/**
 * Custom-metric lines: per Auto Scaling group, its agent's host metrics (per instance, plus the
 * group aggregate) and the app's metrics; one per log metric filter; one per other metric the
 * alarms read from a `Clawstack/` namespace. `extraAtMax` prices the host metrics of instances up to
 * the group's maximum.
 */
export function customMetricLines(
  ctx: PriceContext,
  launchTemplateOf: (asg: RecordedResource) => RecordedResource | undefined,
): { lines: CostLine[]; extraAtMax: number } {
  const price = ctx.p.customMetricMonth;
  const line = (item: string, r: RecordedResource, n: number): CostLine => ({
    item: `CloudWatch custom metrics: ${item}`,
    resource: `${r.type.split(':').pop()} ${r.name}`,
    monthlyUsd: price * n,
  });
  const lines: CostLine[] = [];
  let extraAtMax = 0;
  const custom = ctx.resources.filter((r) => r.custom);
  for (const asg of custom.filter((r) => r.type === 'aws:autoscaling/group:Group')) {
    const config = agentConfigOf(launchTemplateOf(asg));
    if (!config) continue;
    const desired = Number(asg.inputs.desiredCapacity ?? asg.inputs.minSize ?? 1);
    const max = Number(asg.inputs.maxSize ?? desired);
    const host = hostMetricsPerInstance(config);
    lines.push(
      line(`agent host metrics ${host} × (${desired} instance(s) + group)`, asg, host * (desired + 1)),
    );
    lines.push(line(`app metrics via the agent (EMF) × ${appMetrics(config)}`, asg, appMetrics(config)));
    extraAtMax += price * host * Math.max(0, max - desired);
  }
  const filtered = new Set<string>();
  for (const f of custom.filter((r) => r.type === 'aws:cloudwatch/logMetricFilter:LogMetricFilter')) {
    filtered.add(String((f.inputs.metricTransformation as Json | undefined)?.name));
    lines.push(line('log metric filter', f, 1));
  }
  // Metrics alarms read from the stack's namespace that no filter or agent publishes (a function's).
  const own = new Map<string, RecordedResource>();
  for (const a of custom.filter((r) => r.type === 'aws:cloudwatch/metricAlarm:MetricAlarm')) {
    const ns = String(a.inputs.namespace ?? '');
    const name = String(a.inputs.metricName ?? '');
    if (ns.startsWith('Clawstack/') && !filtered.has(name) && !name.startsWith('clawstack_'))
      own.set(`${ns} ${name}`, a);
  }
  for (const [key, a] of own) lines.push(line(`${key.split(' ')[1]} (published by a function)`, a, 1));
  return { lines, extraAtMax };
}
