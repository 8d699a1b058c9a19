/** /metrics exposes what the alarms and dashboards read, with the labels they filter by. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { useTestApp } from '../harness/app.ts';

const app = useTestApp();

test('HTTP, inference, batch, queue, job, cache and process metrics are exported', async () => {
  await app.call('/v1/text/classify', { method: 'POST', json: { text: 'metrics please' } });
  await app.call('/v1/text/classify', { method: 'POST', json: { text: 42 } });
  const job = await app.call('/v1/jobs', {
    method: 'POST',
    json: { task: 'text.classify', input: { text: 'a job' }, priority: 'high' },
  });
  const { id } = (await job.json()) as { id: string };
  for (let i = 0; i < 100; i++) {
    const j = (await (await app.call(`/v1/jobs/${id}`)).json()) as { status: string };
    if (j.status === 'succeeded') break;
    await sleep(50);
  }
  const res = await app.call('/metrics', { key: null });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  const expectations: RegExp[] = [
    /clawstack_http_request_duration_seconds_bucket\{[^}]*method="POST",route="\/v1\/:modality\/:verb",status="200"/,
    /clawstack_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/:modality\/:verb",status="400"/,
    // the shapes the CloudWatch agent keeps (it drops histograms)
    /^clawstack_http_requests_total\{[^}]*route="\/v1\/:modality\/:verb",status="400"[^}]*\} 1$/m,
    /^clawstack_http_request_latency_seconds\{[^}]*quantile="0.99"[^}]*\} \d/m,
    /^# TYPE clawstack_http_request_latency_seconds summary$/m,
    /clawstack_inference_duration_seconds_count\{[^}]*model="text-spam",version="1"[^}]*\} [1-9]/,
    /clawstack_inference_batch_size_count\{[^}]*model="text-spam",version="1"[^}]*\} [1-9]/,
    /clawstack_job_queue_depth\{[^}]*priority="high"[^}]*\} \d+/,
    /clawstack_job_queue_depth\{[^}]*priority="low"[^}]*\} \d+/,
    /clawstack_job_wait_seconds_count\{[^}]*priority="high"[^}]*\} 1/,
    /clawstack_jobs_total\{[^}]*task="text.classify",status="succeeded"[^}]*\} 1/,
    /clawstack_result_cache_misses_total\{[^}]*task="text.classify"[^}]*\} [1-9]/,
    // prom-client's defaults under their standard names, which stock Node.js dashboards query
    /^process_resident_memory_bytes\{[^}]*role="all"[^}]*\} [1-9]/m,
    /^process_cpu_seconds_total\{/m,
    /^process_start_time_seconds\{/m,
    /^nodejs_eventloop_lag_seconds\{/m,
    /^nodejs_heap_size_used_bytes\{/m,
    // declared under its standard name; it has samples only once a GC has run, which is not certain here
    /^# TYPE nodejs_gc_duration_seconds histogram$/m,
    /^nodejs_version_info\{/m,
  ];
  for (const re of expectations) assert.match(text, re);
  assert.doesNotMatch(text, /^clawstack_(process|nodejs)_/m);
});

test('responses carry a request id (given or generated)', async () => {
  const given = await app.call('/v2/health/live', { key: null, headers: { 'x-request-id': 'abc-123' } });
  assert.equal(given.headers.get('x-request-id'), 'abc-123');
  const generated = await app.call('/v2/health/live', { key: null });
  assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});
