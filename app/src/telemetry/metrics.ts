/**
 * Prometheus metrics (prom-client). One registry per process; every metric the runbook and the
 * alarms refer to is defined here.
 */
import client from 'prom-client';

export class Metrics {
  readonly registry = new client.Registry();

  readonly httpDuration = new client.Histogram({
    name: 'clawstack_http_request_duration_seconds',
    help: 'HTTP request duration by route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  // The CloudWatch agent drops Prometheus histograms (it keeps counters, gauges and summaries), so
  // the request count by status and the latency quantiles exist in those shapes too (infra/targets/aws).
  readonly httpRequests = new client.Counter({
    name: 'clawstack_http_requests_total',
    help: 'HTTP requests finished, by route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpLatency = new client.Summary({
    name: 'clawstack_http_request_latency_seconds',
    help: 'HTTP request duration quantiles over the last minute, all routes',
    percentiles: [0.5, 0.9, 0.99],
    maxAgeSeconds: 60,
    ageBuckets: 5,
    registers: [this.registry],
  });

  readonly inferenceDuration = new client.Histogram({
    name: 'clawstack_inference_duration_seconds',
    help: 'Duration of one batched session.run, per model',
    labelNames: ['model', 'version'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly batchSize = new client.Histogram({
    name: 'clawstack_inference_batch_size',
    help: 'Requests per executed batch, per model',
    labelNames: ['model', 'version'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly inferenceQueueWait = new client.Histogram({
    name: 'clawstack_inference_queue_wait_seconds',
    help: 'Time a request waited for a batch slot before running, per model',
    labelNames: ['model'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  readonly jobQueueDepth = new client.Gauge({
    name: 'clawstack_job_queue_depth',
    help: 'Jobs waiting in the queue, per priority',
    labelNames: ['priority'] as const,
    registers: [this.registry],
  });

  readonly jobWait = new client.Histogram({
    name: 'clawstack_job_wait_seconds',
    help: 'Time from job submission to a worker starting it, per priority',
    labelNames: ['priority'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  readonly jobsSubmitted = new client.Counter({
    name: 'clawstack_jobs_submitted_total',
    help: 'Job submissions, by path (single, batch) and outcome (created, duplicate: an idempotency key seen before, rejected)',
    labelNames: ['via', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly jobsCompleted = new client.Counter({
    name: 'clawstack_jobs_total',
    help: 'Jobs finished, by task and final status',
    labelNames: ['task', 'status'] as const,
    registers: [this.registry],
  });

  readonly cacheHits = new client.Counter({
    name: 'clawstack_result_cache_hits_total',
    help: 'Result cache hits, per task',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly cacheMisses = new client.Counter({
    name: 'clawstack_result_cache_misses_total',
    help: 'Result cache misses, per task',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new client.Counter({
    name: 'clawstack_rate_limited_total',
    help: 'Requests refused by the per-key rate limit',
    registers: [this.registry],
  });

  constructor(role: string) {
    this.registry.setDefaultLabels({ role });
    // No prefix: stock Node.js dashboards query process_* and nodejs_* by their standard names.
    client.collectDefaultMetrics({ register: this.registry });
  }
}
