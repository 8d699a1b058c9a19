/**
 * The CloudWatch agent on each instance: host metrics (memory, disk, GPU on tier gpu) into `CWAgent`,
 * log files into their log groups, and the app's Prometheus /metrics (api and worker, scraped on the
 * loopback) into `Clawstack/<stack>` as embedded-metric-format logs. The agent's configuration and the
 * scrape configuration are real files (./files/amazon-cloudwatch-agent.json, ./files/prometheus.yaml);
 * this module fills in what is per stack. Pure.
 *
 * The agent keeps Prometheus counters, gauges and summaries and drops histograms, so the alarms and
 * scaling policies read the app's counter and summary (clawstack_http_requests_total,
 * clawstack_http_request_latency_seconds), never a histogram.
 */
import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { METRICS_PATH } from '../../../app/src/api/paths.ts';
import { APP_PORT } from './network.ts';

export const AGENT_DIR = '/opt/aws/amazon-cloudwatch-agent/etc';
export const AGENT_CONFIG_PATH = `${AGENT_DIR}/amazon-cloudwatch-agent.json`;
export const PROMETHEUS_CONFIG_PATH = `${AGENT_DIR}/prometheus.yaml`;

/** Host ports the agent scrapes: the api's own, and the worker's published on 127.0.0.1 only. */
export const SCRAPE_PORTS = { api: APP_PORT, worker: 9102 } as const;
/** Prometheus job names, which become the `job` dimension. */
export const SCRAPE_JOBS = { api: 'clawstack-api', worker: 'clawstack-worker' } as const;

/** The namespace of the stack's own metrics (app metrics, log metric filters, traffic comparison). */
export const stackNamespace = (stack: string) => `Clawstack/${stack}`;

/** The app's metrics as CloudWatch has them (names from app/src/telemetry/metrics.ts). */
export const APP_METRICS = {
  /** Counter; dimensions job + status_class (2xx…5xx), and job alone. */
  requests: 'clawstack_http_requests_total',
  /** Summary quantiles (0.5, 0.9, 0.99) of the last minute; dimensions job + quantile. */
  latency: 'clawstack_http_request_latency_seconds',
  /** Gauge of waiting jobs (the whole queue, reported by every worker); dimensions job + priority. */
  queueDepth: 'clawstack_job_queue_depth',
  /** Counter of finished jobs; dimensions job + status (succeeded, failed). */
  jobs: 'clawstack_jobs_total',
} as const;

/** The job queue's priorities (app/src/jobs/queue.ts BULL_PRIORITY). */
export const QUEUE_PRIORITIES = ['high', 'normal', 'low'] as const;

/** Host metrics: `CWAgent` names of the agent's measurements. */
export const HOST_METRICS = {
  memoryAvailable: 'mem_available',
  gpuUtilisation: 'nvidia_smi_utilization_gpu',
} as const;

const file = (name: string) => readFileSync(new URL(`./files/${name}`, import.meta.url), 'utf8');

export interface AgentParams {
  stack: string;
  /** Names the agent's Prometheus "cluster" (the Auto Scaling group). */
  clusterName: string;
  /** Log groups of files the agent ships: `system` (cloud-init output), `edge` (Caddy) when present. */
  logGroups: Record<string, string>;
  /** The log group that carries the embedded-metric-format events. */
  metricsLogGroup: string;
  gpu: boolean;
}

/** The agent's JSON configuration for one instance of the stack. */
export function agentConfig(p: AgentParams): string {
  const config = JSON.parse(file('amazon-cloudwatch-agent.json')) as {
    metrics: { metrics_collected: Record<string, unknown> };
    logs: {
      logs_collected: { files: { collect_list: Record<string, string>[] } };
      metrics_collected: {
        prometheus: {
          cluster_name: string;
          log_group_name: string;
          emf_processor: { metric_namespace: string };
        };
      };
    };
  };
  const collect = config.logs.logs_collected.files.collect_list;
  collect.push({
    file_path: '/var/log/cloud-init-output.log',
    log_group_name: p.logGroups.system!,
    log_stream_name: '{instance_id}/cloud-init',
  });
  if (p.logGroups.edge)
    collect.push({
      file_path: '/var/log/clawstack/caddy/access.log',
      log_group_name: p.logGroups.edge,
      log_stream_name: '{instance_id}/access',
    });
  if (p.gpu)
    config.metrics.metrics_collected.nvidia_gpu = {
      measurement: ['utilization_gpu', 'memory_used', 'memory_total'],
    };
  const prometheus = config.logs.metrics_collected.prometheus;
  prometheus.cluster_name = p.clusterName;
  prometheus.log_group_name = p.metricsLogGroup;
  prometheus.emf_processor.metric_namespace = stackNamespace(p.stack);
  return JSON.stringify(config, null, 1);
}

/** The agent's Prometheus scrape configuration (api and worker on this instance). */
export function prometheusConfig(): string {
  return Mustache.render(
    file('prometheus.yaml'),
    {
      apiJob: SCRAPE_JOBS.api,
      workerJob: SCRAPE_JOBS.worker,
      apiPort: SCRAPE_PORTS.api,
      workerPort: SCRAPE_PORTS.worker,
      metricsPath: METRICS_PATH,
    },
    {},
    { escape: (text: string) => text },
  );
}

/** One CloudWatch metric with a statistic, as alarms and scaling policies refer to it. */
export interface MetricRef {
  /** Metric-math id. */
  id: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  stat: string;
}

/**
 * Jobs waiting per in-service instance: the whole queue (each worker reports it; the maximum over
 * instances, summed over priorities) divided by the group's in-service instances. Without a worker
 * reporting (zero instances), there is no data point, and the policy leaves the group as it is.
 */
export function backlogPerInstance(
  stack: string,
  asgName: string,
): { metrics: MetricRef[]; expression: string } {
  const queue = QUEUE_PRIORITIES.map((priority) => ({
    id: `queue_${priority}`,
    namespace: stackNamespace(stack),
    metricName: APP_METRICS.queueDepth,
    dimensions: { job: SCRAPE_JOBS.worker, priority },
    stat: 'Maximum',
  }));
  const instances = {
    id: 'instances',
    namespace: 'AWS/AutoScaling',
    metricName: 'GroupInServiceInstances',
    dimensions: { AutoScalingGroupName: asgName },
    stat: 'Average',
  };
  return {
    metrics: [...queue, instances],
    expression: `(${queue.map((q) => q.id).join(' + ')}) / instances`,
  };
}
