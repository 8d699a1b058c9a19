/**
 * With the Prometheus Operator: what to scrape (ServiceMonitor), the seeds' alerts (PrometheusRule)
 * on the app's own metrics (app/src/telemetry/metrics.ts), and a Grafana dashboard for the sidecar.
 * With KEDA: workers scale on the app's queue depth. Pure.
 */
import { METRICS_PATH } from '../../../app/src/api/paths.ts';
import type { Workload } from '../../workload/index.ts';
import { objectName } from './manifests.ts';
import { INSTANCE_LABEL, ROLE_LABEL } from './pod.ts';
import type { KubernetesSpec } from './spec.ts';

/** The app's metric names (prom-client, prefix clawstack_ on the default process metrics). */
export const METRICS = {
  httpDuration: 'clawstack_http_request_duration_seconds',
  queueDepth: 'clawstack_job_queue_depth',
  cpuSeconds: 'process_cpu_seconds_total',
  residentMemory: 'process_resident_memory_bytes',
} as const;

/** Requests that count for latency, errors and traffic: not probes, not scrapes. */
const REQUESTS = (ns: string) => `namespace="${ns}",role="api",route!~"/v2/health/.*|${METRICS_PATH}"`;

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}

/** The seeds' five alerts, per stack, on the app's own metrics. */
export function alertRules(w: Workload, namespace: string): AlertRule[] {
  const limitCores = w.app.api.resources.cpuLimitMillis / 1000;
  const limitBytes = w.app.api.resources.memoryMiB * 1024 * 1024;
  const app = `namespace="${namespace}",role=~"api|worker"`;
  const req = REQUESTS(namespace);
  const rate = (window: string, extra = '', offset = '') =>
    `sum(rate(${METRICS.httpDuration}_count{${req}${extra}}[${window}]${offset}))`;
  const rule = (alert: string, expr: string, forWhat: string, summary: string, description: string) => ({
    alert,
    expr,
    for: forWhat,
    labels: { severity: 'warning', stack: w.stack },
    annotations: { summary, description },
  });
  return [
    rule(
      'ClawstackHighCpu',
      `sum by (pod) (rate(${METRICS.cpuSeconds}{${app}}[5m])) / ${limitCores} > 0.85`,
      '10m',
      'CPU above 85 % of the limit',
      `{{ $labels.pod }} uses more than 85 % of its ${limitCores} CPU limit.`,
    ),
    rule(
      'ClawstackLowMemory',
      `${limitBytes} - max by (pod) (${METRICS.residentMemory}{${app}}) < 500 * 1024 * 1024`,
      '5m',
      'Less than 500 MB of memory left',
      `{{ $labels.pod }} has less than 500 MB left below its ${w.app.api.resources.memoryMiB} MiB limit.`,
    ),
    rule(
      'ClawstackHighLatency',
      `histogram_quantile(0.99, sum by (le) (rate(${METRICS.httpDuration}_bucket{${req}}[5m]))) > 0.5`,
      '10m',
      'p99 latency above 500 ms',
      'The 99th percentile of API request duration is above 500 ms.',
    ),
    rule(
      'ClawstackHighErrorRate',
      `${rate('5m', ',status=~"5.."')} / ${rate('5m')} > 0.05`,
      '10m',
      'More than 5 % of requests fail',
      'More than 5 % of API requests answered with a 5xx status.',
    ),
    rule(
      'ClawstackTrafficDrop',
      `${rate('1h')} < 0.7 * ${rate('1h', '', ' offset 1d')}`,
      '30m',
      'Requests down 30 % against a day earlier',
      'The API request rate over the last hour is less than 70 % of the same hour a day earlier.',
    ),
  ];
}

/** The PrometheusRule spec (also what `promtool check rules` reads). */
export function ruleGroups(w: Workload, namespace: string) {
  return { groups: [{ name: `${w.prefix}.rules`, rules: alertRules(w, namespace) }] };
}

/** Scrape api and worker on the app's metrics path. */
export function serviceMonitorSpec(k: KubernetesSpec, base: string) {
  return {
    selector: {
      matchLabels: { [INSTANCE_LABEL]: base },
      matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['api', 'worker'] }],
    },
    namespaceSelector: { matchNames: [k.namespace] },
    endpoints: [{ port: 'http', path: METRICS_PATH, interval: '30s' }],
  };
}

/** Workers scale on the queue depth (every process reports the same queue: max per priority, summed). */
export function queueDepthQuery(namespace: string): string {
  return `sum(max by (priority) (${METRICS.queueDepth}{namespace="${namespace}"}))`;
}

export function scaledObjectSpec(w: Workload, k: KubernetesSpec, base: string, prometheusUrl: string) {
  return {
    scaleTargetRef: { name: objectName(base, 'worker') },
    minReplicaCount: Math.max(1, w.scaling.min),
    maxReplicaCount: w.scaling.max,
    triggers: [
      {
        type: 'prometheus',
        metadata: {
          serverAddress: prometheusUrl,
          query: queueDepthQuery(k.namespace),
          // One worker replica runs this many jobs at once: scale so each has about that many waiting.
          threshold: String(w.tier.app.workerConcurrency),
        },
      },
      { type: 'cpu', metricType: 'Utilization', metadata: { value: String(w.scaling.cpuTargetPercent) } },
    ],
  };
}

/** A Grafana dashboard (JSON model) over the same metrics; the sidecar loads it from a ConfigMap. */
export function dashboard(w: Workload, namespace: string): string {
  const req = REQUESTS(namespace);
  const app = `namespace="${namespace}",role=~"api|worker"`;
  const panels: [string, string, string][] = [
    ['Requests per second', `sum(rate(${METRICS.httpDuration}_count{${req}}[5m]))`, 'reqps'],
    [
      'p99 latency',
      `histogram_quantile(0.99, sum by (le) (rate(${METRICS.httpDuration}_bucket{${req}}[5m])))`,
      's',
    ],
    [
      '5xx ratio',
      `sum(rate(${METRICS.httpDuration}_count{${req},status=~"5.."}[5m])) / sum(rate(${METRICS.httpDuration}_count{${req}}[5m]))`,
      'percentunit',
    ],
    ['CPU (cores) per pod', `sum by (pod) (rate(${METRICS.cpuSeconds}{${app}}[5m]))`, 'none'],
    ['Resident memory per pod', `max by (pod) (${METRICS.residentMemory}{${app}})`, 'bytes'],
    ['Queue depth', queueDepthQuery(namespace), 'none'],
  ];
  return JSON.stringify({
    title: `clawstack ${w.stack}`,
    uid: `clawstack-${w.stack}`.slice(0, 40),
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    panels: panels.map(([title, expr, unit], i) => ({
      id: i + 1,
      type: 'timeseries',
      title,
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      fieldConfig: { defaults: { unit }, overrides: [] },
      targets: [{ expr, refId: 'A' }],
    })),
  });
}
