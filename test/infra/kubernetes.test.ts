/**
 * The Kubernetes target under Pulumi mocks, for every tier × capacity × data-services combination:
 * which objects exist and with which settings, every object checked against the upstream schemas
 * (Kubernetes OpenAPI and the Prometheus Operator / KEDA CRDs), and the alert rules checked (and
 * unit-tested on synthetic series) by promtool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, METRICS_PATH } from '../../app/src/api/paths.ts';
import { Metrics } from '../../app/src/telemetry/metrics.ts';
import { parseSpec, StackConfigError } from '../../infra/spec/index.ts';
import { TLS12_CIPHERS } from '../../infra/targets/kubernetes/manifests.ts';
import { PRESTOP_SECONDS, SPOT_LABELS } from '../../infra/targets/kubernetes/pod.ts';
import type { KubernetesSpec } from '../../infra/targets/kubernetes/spec.ts';
import type { DeploymentSpec } from '../../infra/targets/index.ts';
import { TIERS } from '../../infra/tiers.ts';
import { stopGraceSeconds } from '../../infra/workload/index.ts';
import { planCommand } from '../../scripts/plan/cli.ts';
import { MOCK_SECRET_MARKER, ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { kubernetesAdapter, kubernetesConfig } from './conformance/kubernetes.ts';
import { COMBINATIONS, label } from './helpers.ts';
import { labelErrors, schemaErrors } from './kubernetes-schemas.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = {
  ns: 'kubernetes:core/v1:Namespace',
  cm: 'kubernetes:core/v1:ConfigMap',
  secret: 'kubernetes:core/v1:Secret',
  svc: 'kubernetes:core/v1:Service',
  deploy: 'kubernetes:apps/v1:Deployment',
  sts: 'kubernetes:apps/v1:StatefulSet',
  ing: 'kubernetes:networking.k8s.io/v1:Ingress',
  np: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  hpa: 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  sm: 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor',
  rule: 'kubernetes:monitoring.coreos.com/v1:PrometheusRule',
  so: 'kubernetes:keda.sh/v1alpha1:ScaledObject',
} as const;
const DRAIN_MS = 60_000;
const ALLOWED = ['203.0.113.0/24', '198.51.100.0/24'];

const inp = (r: RecordedResource) => r.inputs as Json;
const spec = (r: RecordedResource) => r.inputs.spec as Json;
const pod = (r: RecordedResource) => spec(r).template.spec as Json;
const container = (r: RecordedResource) => pod(r).containers[0] as Json;
const named = (run: ProgramRun, type: string, suffix: string) => one(run, type, suffix);
const run1 = async (config: Record<string, unknown>, secretKeys: string[] = []) => {
  const run = await runProgram(config, { secretKeys });
  assert.equal(run.error, undefined, run.error?.message);
  return run;
};
const secretKeysFor = (c: { dataServices: string }) => (c.dataServices === 'managed' ? ['kubernetes'] : []);

for (const combo of COMBINATIONS) {
  const tier = TIERS[combo.tier];
  const gpu = !!tier.gpu;
  const spot = combo.capacity === 'spot';
  const managed = combo.dataServices === 'managed';
  // Add-ons alternate so every combination of them is covered across the matrix.
  const addOns = { prometheusOperator: !managed, keda: spot };
  const config = kubernetesConfig(combo, { drainTimeoutMs: DRAIN_MS, kubernetes: addOns });

  describe(`kubernetes: ${label(combo)}`, () => {
    let run: ProgramRun;
    before(async () => {
      run = await run1(config, secretKeysFor(combo));
    });
    const k8sObjects = () => run.resources.filter((r) => r.custom && r.type.startsWith('kubernetes:'));

    test('every object conforms to the upstream schema (Kubernetes OpenAPI, Prometheus Operator and KEDA CRDs)', async () => {
      const errors = (await Promise.all(k8sObjects().map(schemaErrors))).flat();
      assert.deepEqual(errors, []);
      assert.ok(k8sObjects().length >= 15);
    });

    test('every object (and pod template, and claim) carries the workload labels, all valid', () => {
      const want = { project: 'clawstack', stack: 'test', tier: combo.tier, capacity: combo.capacity };
      const labelSets = k8sObjects().flatMap((r) => {
        const sets: [string, Json][] = [[`${r.type} ${r.name}`, inp(r).metadata?.labels ?? {}]];
        const s = spec(r);
        if (s?.template?.metadata) sets.push([`${r.name} pod template`, s.template.metadata.labels ?? {}]);
        for (const claim of s?.volumeClaimTemplates ?? [])
          sets.push([`${r.name} claim`, claim.metadata.labels]);
        return sets;
      });
      const missing = labelSets.filter(([, l]) => Object.entries(want).some(([k, v]) => l[k] !== v));
      assert.deepEqual(
        missing.map(([w]) => w),
        [],
      );
      assert.deepEqual(
        labelSets.flatMap(([w, l]) => labelErrors(l).map((e) => `${w}: ${e}`)),
        [],
      );
    });

    test('api and worker: requests/limits from the tier, probes on the app health paths, GPU as a limit', () => {
      for (const role of ['api', 'worker']) {
        const c = container(named(run, T.deploy, `-${role}`));
        assert.deepEqual(c.resources.requests, {
          cpu: `${tier.process.cpuMillis}m`,
          memory: `${tier.process.memoryMiB}Mi`,
        });
        assert.equal(c.resources.limits.cpu, `${tier.process.cpuLimitMillis}m`);
        assert.equal(c.resources.limits.memory, `${tier.process.memoryMiB}Mi`);
        assert.equal(c.resources.limits['nvidia.com/gpu'], gpu ? '1' : undefined);
        assert.equal(c.readinessProbe.httpGet.path, HEALTH_READY_PATH);
        assert.equal(c.livenessProbe.httpGet.path, HEALTH_LIVE_PATH);
        assert.equal(c.startupProbe.httpGet.path, HEALTH_LIVE_PATH);
        // The startup budget (period × threshold) covers model loading: longer on the GPU tier.
        assert.equal(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold, gpu ? 600 : 300);
        assert.equal(
          c.image,
          gpu ? 'ghcr.io/clawstack/clawstack:0.1.0-cuda' : 'ghcr.io/clawstack/clawstack:0.1.0',
        );
      }
    });

    test('restricted security context: non-root, read-only root with emptyDir scratch, no capabilities, seccomp', () => {
      for (const r of [...ofType(run, T.deploy), ...ofType(run, T.sts)]) {
        const c = container(r);
        const p = pod(r);
        assert.equal(c.securityContext.runAsNonRoot, true, r.name);
        assert.ok(c.securityContext.runAsUser > 0, r.name);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, r.name);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, r.name);
        assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] }, r.name);
        assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault', r.name);
        assert.equal(p.securityContext.seccompProfile.type, 'RuntimeDefault', r.name);
        assert.equal(p.automountServiceAccountToken, false, r.name);
        // Every mount is an emptyDir of the pod or a claim of the StatefulSet: nothing writes to the root.
        const claims = (spec(r).volumeClaimTemplates ?? []).map((v: Json) => v.metadata.name);
        for (const m of c.volumeMounts) {
          const v = p.volumes.find((x: Json) => x.name === m.name);
          assert.ok(v?.emptyDir || claims.includes(m.name), `${r.name}: ${m.mountPath}`);
        }
      }
      const api = named(run, T.deploy, '-api');
      assert.ok(container(api).volumeMounts.some((m: Json) => m.mountPath === '/tmp'));
      assert.equal(inp(one(run, T.ns)).metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    });

    test('grace = stop grace (+ the preStop pause on the api, so endpoints drop before SIGTERM); topology spread', () => {
      const grace = stopGraceSeconds(DRAIN_MS);
      const api = named(run, T.deploy, '-api');
      const worker = named(run, T.deploy, '-worker');
      assert.equal(pod(api).terminationGracePeriodSeconds, grace + PRESTOP_SECONDS);
      assert.deepEqual(container(api).lifecycle.preStop.exec.command, ['sleep', String(PRESTOP_SECONDS)]);
      assert.equal(pod(worker).terminationGracePeriodSeconds, grace);
      for (const d of [api, worker])
        assert.deepEqual(
          pod(d).topologySpreadConstraints.map((t: Json) => t.topologyKey),
          ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
        );
    });

    test(`${gpu ? 'GPU: NVIDIA toleration, node selector and an await timeout' : 'no GPU scheduling'}; ${spot ? 'spot affinity and tolerations for Karpenter, EKS and GKE' : 'on-demand: kept off spot nodes'}`, () => {
      for (const d of ofType(run, T.deploy)) {
        const p = pod(d);
        const tolerations = p.tolerations ?? [];
        assert.equal(
          tolerations.some((t: Json) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'),
          gpu,
        );
        assert.deepEqual(p.nodeSelector, gpu ? { 'nvidia.com/gpu.present': 'true' } : undefined);
        assert.equal(inp(d).metadata.annotations?.['pulumi.com/timeoutSeconds'], gpu ? '900' : undefined);
      }
      for (const r of [...ofType(run, T.deploy), ...ofType(run, T.sts)]) {
        const terms =
          pod(r).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
        if (spot) {
          assert.deepEqual(
            terms.map((t: Json) => [
              t.matchExpressions[0].key,
              t.matchExpressions[0].operator,
              t.matchExpressions[0].values[0],
            ]),
            SPOT_LABELS.map((l) => [l.key, 'In', l.value]),
          );
          for (const l of SPOT_LABELS)
            assert.ok(
              pod(r).tolerations.some((t: Json) => t.key === l.key && t.value === l.value),
              `${r.name} ${l.key}`,
            );
        } else {
          assert.equal(terms.length, 1);
          assert.ok(terms[0].matchExpressions.every((e: Json) => e.operator === 'NotIn'));
          assert.deepEqual(
            terms[0].matchExpressions.map((e: Json) => e.key),
            SPOT_LABELS.map((l) => l.key),
          );
        }
      }
      for (const s of ofType(run, T.sts)) {
        assert.equal(container(s).resources.limits['nvidia.com/gpu'], undefined);
        assert.equal(pod(s).nodeSelector, undefined);
      }
    });

    test('Ingress: cert-manager issuer, TLS 1.2+ ciphers, allowed CIDRs, only /v1 and /v2 routed (no /metrics)', () => {
      const ing = inp(one(run, T.ing));
      const a = ing.metadata.annotations as Json;
      assert.equal(a['cert-manager.io/cluster-issuer'], 'letsencrypt-prod');
      assert.equal(a['nginx.ingress.kubernetes.io/whitelist-source-range'], ALLOWED.join(','));
      assert.equal(a['nginx.ingress.kubernetes.io/allowlist-source-range'], ALLOWED.join(','));
      assert.equal(a['nginx.ingress.kubernetes.io/ssl-ciphers'], TLS12_CIPHERS);
      // Only AEAD suites, which exist in TLS 1.2 and later only.
      for (const cipher of TLS12_CIPHERS.split(':'))
        assert.match(cipher, /^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
      assert.equal(a['nginx.ingress.kubernetes.io/force-ssl-redirect'], 'true');
      assert.equal(ing.spec.ingressClassName, 'nginx');
      assert.deepEqual(ing.spec.tls, [{ hosts: ['api.example.com'], secretName: 'clawstack-test-tls' }]);
      const paths = ing.spec.rules[0].http.paths as Json[];
      assert.deepEqual(
        paths.map((p) => [p.path, p.pathType, p.backend.service.name]),
        [
          ['/v1', 'Prefix', 'clawstack-test-api'],
          ['/v2', 'Prefix', 'clawstack-test-api'],
        ],
      );
      assert.ok(!paths.some((p) => METRICS_PATH.startsWith(p.path)));
    });

    test('HPA autoscaling/v2 1–10 on CPU 70 %; PDBs let one pod go at a time', () => {
      const hpas = ofType(run, T.hpa);
      assert.deepEqual(
        hpas.map((h) => h.name).sort(),
        addOns.keda ? ['clawstack-test-api-hpa'] : ['clawstack-test-api-hpa', 'clawstack-test-worker-hpa'],
      );
      for (const h of hpas) {
        assert.equal(spec(h).minReplicas, 1);
        assert.equal(spec(h).maxReplicas, 10);
        assert.deepEqual(spec(h).metrics[0].resource, {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: 70 },
        });
      }
      for (const d of ofType(run, T.deploy))
        assert.equal(spec(d).replicas, undefined, 'the autoscaler owns replicas');
      assert.deepEqual(
        ofType(run, T.pdb).map((p) => [p.name, spec(p).maxUnavailable]),
        [
          ['clawstack-test-api-pdb', 1],
          ['clawstack-test-worker-pdb', 1],
        ],
      );
    });

    test('NetworkPolicies: default deny, ingress controller → api, app → data only, DNS, no object-storage egress for baked models', () => {
      const policies = Object.fromEntries(
        ofType(run, T.np).map((p) => [p.name.replace('clawstack-test-np-', ''), spec(p)]),
      ) as Json;
      assert.deepEqual(policies['default-deny'], { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      assert.deepEqual(
        policies.dns.egress[0].ports.map((p: Json) => `${p.protocol}/${p.port}`),
        ['UDP/53', 'TCP/53'],
      );
      assert.deepEqual(policies['ingress-to-api'].ingress[0], {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      });
      assert.equal(policies['object-storage'], undefined);
      if (managed) {
        assert.deepEqual(
          policies['app-to-data'].egress[0].ports.map((p: Json) => p.port),
          [6380, 5432],
        );
        assert.equal(policies['app-to-redis'], undefined);
      } else {
        assert.equal(policies['app-to-redis'].egress[0].ports[0].port, 6379);
        assert.equal(policies['app-to-postgres'].egress[0].ports[0].port, 5432);
        assert.deepEqual(
          policies['postgres-from-app'].ingress[0].from[0].podSelector.matchExpressions[0].values,
          ['api', 'worker'],
        );
      }
      assert.equal(!!policies['prometheus-scrape'], addOns.prometheusOperator);
    });

    test(
      managed
        ? 'managed: external URLs only in Secrets, no StatefulSets'
        : 'colocated: Redis and Postgres StatefulSets with PVCs and generated passwords',
      () => {
        const apiEnv = kubernetesAdapter.containers(run).find((c) => c.role === 'api')!.env;
        assert.equal(apiEnv.REDIS_URL, undefined, 'URLs hold passwords: not in the ConfigMap');
        const appSecret = ofType(run, T.secret).find((s) => s.name.endsWith('-api-secret-env'))!;
        assert.deepEqual(appSecret.secrets, ['stringData']);
        if (managed) {
          assert.equal(ofType(run, T.sts).length, 0);
          assert.match(inp(appSecret).stringData.REDIS_URL, /^rediss:\/\/:MOCKSECRET/);
          assert.match(inp(appSecret).stringData.DATABASE_URL, /^postgres:\/\/clawstack:MOCKSECRET/);
          assert.equal(ofType(run, 'random:index/randomPassword:RandomPassword').length, 1); // the bootstrap key
          return;
        }
        const sizes = Object.fromEntries(
          ofType(run, T.sts).map((s) => [
            container(s).name,
            spec(s).volumeClaimTemplates[0].spec.resources.requests.storage,
          ]),
        );
        assert.deepEqual(sizes, { redis: '5Gi', postgres: '20Gi' });
        assert.match(
          inp(appSecret).stringData.REDIS_URL,
          new RegExp(`^redis://:${MOCK_SECRET_MARKER}\\w+@clawstack-test-redis:6379$`),
        );
        assert.match(inp(appSecret).stringData.DATABASE_URL, /@clawstack-test-postgres:5432\/clawstack$/);
        for (const role of ['redis', 'postgres'])
          assert.equal(spec(named(run, T.svc, `-${role}-svc`)).clusterIP, 'None');
      },
    );

    test(
      addOns.prometheusOperator
        ? 'Prometheus Operator: ServiceMonitor, five alerts, Grafana dashboard'
        : 'no Prometheus Operator objects',
      () => {
        assert.equal(ofType(run, T.sm).length, addOns.prometheusOperator ? 1 : 0);
        assert.equal(ofType(run, T.rule).length, addOns.prometheusOperator ? 1 : 0);
        if (!addOns.prometheusOperator) return;
        assert.deepEqual(spec(one(run, T.sm)).endpoints, [
          { port: 'http', path: METRICS_PATH, interval: '30s' },
        ]);
        const rules = spec(one(run, T.rule)).groups[0].rules as Json[];
        assert.deepEqual(
          rules.map((r) => r.alert),
          [
            'ClawstackHighCpu',
            'ClawstackLowMemory',
            'ClawstackHighLatency',
            'ClawstackHighErrorRate',
            'ClawstackTrafficDrop',
          ],
        );
        const board = ofType(run, T.cm).find((c) => c.name.endsWith('-dashboard'))!;
        assert.equal(inp(board).metadata.labels.grafana_dashboard, '1');
        assert.equal(inp(board).metadata.namespace, 'monitoring');
        const json = JSON.parse(Object.values(board.inputs.data as Record<string, string>)[0]!) as Json;
        assert.equal(json.panels.length, 6);
      },
    );

    test(addOns.keda ? 'KEDA: workers scale on the queue depth and CPU' : 'no KEDA ScaledObject', () => {
      assert.equal(ofType(run, T.so).length, addOns.keda ? 1 : 0);
      if (!addOns.keda) return;
      const s = spec(one(run, T.so));
      assert.equal(s.scaleTargetRef.name, 'clawstack-test-worker');
      assert.deepEqual([s.minReplicaCount, s.maxReplicaCount], [1, 10]);
      assert.match(s.triggers[0].metadata.query, /clawstack_job_queue_depth\{namespace="clawstack-test"\}/);
      assert.equal(s.triggers[0].metadata.threshold, String(tier.app.workerConcurrency));
      assert.equal(s.triggers[1].type, 'cpu');
    });
  });
}

describe('kubernetes: the alert rules', () => {
  let rules: Json[];
  before(async () => {
    const run = await run1(
      kubernetesConfig(
        { tier: 'general', capacity: 'on-demand', dataServices: 'colocated' },
        { kubernetes: { prometheusOperator: true } },
      ),
    );
    rules = spec(one(run, T.rule)).groups as Json[];
  });

  test('every metric the alerts read is one the app exports (app/src/telemetry/metrics.ts)', async () => {
    const exported = new Set<string>();
    for (const m of await new Metrics('api').registry.getMetricsAsJSON()) {
      exported.add(m.name);
      for (const suffix of ['_bucket', '_count', '_sum']) exported.add(`${m.name}${suffix}`);
    }
    const used = new Set(
      rules.flatMap((g) =>
        g.rules.flatMap((r: Json) =>
          [...String(r.expr).matchAll(/\b((?:clawstack|process|nodejs)_\w+)/g)].map((m) => m[1]!),
        ),
      ),
    );
    assert.ok(used.size >= 3);
    assert.deepEqual(
      [...used].filter((n) => !exported.has(n)),
      [],
    );
  });

  const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
  test(
    'promtool check rules accepts them; promtool test rules: each alert fires on the series it is for',
    { skip: promtool ? false : 'promtool is not installed (Debian package prometheus; .ci/run installs it)' },
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'clawstack-rules-'));
      const file = path.join(dir, 'rules.yaml');
      writeFileSync(file, stringify({ groups: rules }));
      const check = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /SUCCESS: 5 rules found/);
      const testFile = path.join(dir, 'test.yaml');
      writeFileSync(testFile, stringify(alertTests(rules)));
      const unit = spawnSync(promtool, ['test', 'rules', testFile], { encoding: 'utf8', cwd: dir });
      assert.equal(unit.status, 0, unit.stdout + unit.stderr);
    },
  );
});

/** promtool unit tests: synthetic series for each alert's condition, and the alert that must fire. */
function alertTests(groups: Json[]) {
  const byName = new Map<string, Json>(groups.flatMap((g) => g.rules.map((r: Json) => [r.alert, r])));
  // What the alert must carry: its labels, and its annotations with the pod label filled in.
  const annotations = (alert: string, labels: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(byName.get(alert)!.annotations as Record<string, string>).map(([k, v]) => [
        k,
        v.replace('{{ $labels.pod }}', labels.pod ?? ''),
      ]),
    );
  const ns = 'namespace="clawstack-test"';
  const req = (status: string, perMin: number) => ({
    series: `clawstack_http_request_duration_seconds_count{${ns},role="api",route="/v1/jobs",status="${status}"}`,
    values: `0+${perMin}x1500`,
  });
  const firing = (alert: string, at: string, labels: Record<string, string> = {}) => ({
    eval_time: at,
    alertname: alert,
    exp_alerts: [
      {
        exp_labels: { severity: 'warning', stack: 'test', ...labels },
        exp_annotations: annotations(alert, labels),
      },
    ],
  });
  return {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          // 1.9 of a 2-core limit: 95 %.
          { series: `process_cpu_seconds_total{${ns},role="api",pod="api-0"}`, values: '0+114x60' },
          // 2900 MiB resident under a 3072 MiB limit: 172 MiB left.
          {
            series: `process_resident_memory_bytes{${ns},role="worker",pod="w-0"}`,
            values: `${2900 * 1048576}x60`,
          },
          // 10 % of requests fail.
          req('200', 90),
          req('500', 10),
          // Every request is in the 1 s bucket: p99 ≈ 1 s.
          {
            series: `clawstack_http_request_duration_seconds_bucket{${ns},role="api",route="/v1/jobs",status="200",le="0.5"}`,
            values: '0x1500',
          },
          {
            series: `clawstack_http_request_duration_seconds_bucket{${ns},role="api",route="/v1/jobs",status="200",le="1"}`,
            values: '0+100x1500',
          },
          {
            series: `clawstack_http_request_duration_seconds_bucket{${ns},role="api",route="/v1/jobs",status="200",le="+Inf"}`,
            values: '0+100x1500',
          },
        ],
        alert_rule_test: [
          firing('ClawstackHighCpu', '30m', { pod: 'api-0' }),
          firing('ClawstackLowMemory', '30m', { pod: 'w-0' }),
          firing('ClawstackHighErrorRate', '30m'),
          firing('ClawstackHighLatency', '30m'),
        ],
      },
      {
        interval: '10m',
        // 1000 requests per 10 minutes for a day, then 100: down 90 % against the same time a day earlier.
        input_series: [
          {
            series: `clawstack_http_request_duration_seconds_count{${ns},role="api",route="/v1/jobs",status="200"}`,
            values: '0+1000x144 144100+100x60',
          },
        ],
        alert_rule_test: [
          { eval_time: '20h', alertname: 'ClawstackTrafficDrop', exp_alerts: [] },
          firing('ClawstackTrafficDrop', '28h'),
        ],
      },
    ],
  };
}

describe('kubernetes: clawstack:kubernetes rules', () => {
  const base = { target: 'kubernetes', domain: 'api.example.com' };
  const k8sOf = (s: DeploymentSpec) => (s as DeploymentSpec<KubernetesSpec>).section;
  const rejects = (raw: Record<string, unknown>, key: RegExp, secret: string[] = []) =>
    assert.throws(
      () => parseSpec(raw, 'dev', new Set(secret)),
      (e: unknown) => e instanceof StackConfigError && key.test(e.key),
    );

  test('defaults: namespace from the stack, nginx + letsencrypt-prod, models baked in, maxSize 10', () => {
    const s = parseSpec(base, 'dev');
    const k = k8sOf(s);
    assert.equal(k.namespace, 'clawstack-dev');
    assert.deepEqual([k.ingress.className, k.ingress.clusterIssuer], ['nginx', 'letsencrypt-prod']);
    assert.deepEqual(k.models, { source: '/app/models', fromObjectStorage: false, objectStorageCidrs: [] });
    assert.deepEqual(s.scaling, { min: 1, max: 10, cpuTargetPercent: 70 });
    assert.equal(k.gpuTimeoutSeconds, 900);
  });

  test('rejected: no domain, managed without URLs, URLs or kubeconfig not secret, URLs with colocated data, bad tags', () => {
    rejects({ target: 'kubernetes' }, /^clawstack:domain$/);
    rejects({ ...base, dataServices: 'managed' }, /kubernetes\.redisUrl/, ['kubernetes']);
    const urls = { redisUrl: 'redis://:p@r:6379', databaseUrl: 'postgres://u:p@d/db' };
    rejects({ ...base, dataServices: 'managed', kubernetes: urls }, /kubernetes\.redisUrl/);
    rejects({ ...base, kubernetes: urls }, /kubernetes\.redisUrl/, ['kubernetes']);
    rejects({ ...base, kubernetes: { kubeconfig: 'apiVersion: v1' } }, /kubernetes\.kubeconfig/);
    rejects({ ...base, kubernetes: { objectStorageCidrs: ['0.0.0.0/0'] } }, /objectStorageCidrs/);
    rejects({ ...base, kubernetes: { namespace: 'Not_A_Label' } }, /kubernetes\.namespace/);
    rejects({ ...base, kubernetes: { nameSpace: 'x' } }, /kubernetes\.nameSpace/);
    rejects({ ...base, tags: { team: 'a team with spaces' } }, /^clawstack:tags$/);
    rejects({ ...base, aws: { rootVolumeGb: 80 } }, /^clawstack:aws$/);
    const ok = parseSpec(
      { ...base, dataServices: 'managed', kubernetes: urls },
      'dev',
      new Set(['kubernetes']),
    );
    assert.deepEqual(k8sOf(ok).external?.ports, { redis: 6379, postgres: 5432 });
  });
});

describe('kubernetes: cluster access, object storage, storage class', () => {
  test('a kubeconfig from config reaches the provider as a secret only; s3 models get 443 egress to the given CIDRs', async () => {
    const kubeconfig = `apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: ${MOCK_SECRET_MARKER}kube}}]`;
    const run = await run1(
      kubernetesConfig(
        { tier: 'general', capacity: 'on-demand', dataServices: 'colocated' },
        {
          kubernetes: {
            kubeconfig,
            context: 'prod',
            storageClass: 'gp3',
            modelSource: 's3://models-bucket/clawstack',
            objectStorageCidrs: ['198.18.0.0/15'],
            serviceAccountAnnotations: {
              'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/models',
            },
          },
        },
      ),
      ['kubernetes'],
    );
    const provider = one(run, 'pulumi:providers:kubernetes');
    assert.equal(provider.inputs.kubeconfig, kubeconfig);
    assert.ok(provider.secrets.includes('kubeconfig'));
    assert.equal(provider.inputs.context, 'prod');
    const policy = ofType(run, T.np).find((p) => p.name.endsWith('-object-storage'))!;
    assert.deepEqual(spec(policy).egress, [
      { to: [{ ipBlock: { cidr: '198.18.0.0/15' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    for (const s of ofType(run, T.sts))
      assert.equal(spec(s).volumeClaimTemplates[0].spec.storageClassName, 'gp3');
    const env = kubernetesAdapter.containers(run).find((c) => c.role === 'worker')!.env;
    assert.equal(env.MODEL_SOURCE, 's3://models-bucket/clawstack');
    const sa = one(run, 'kubernetes:core/v1:ServiceAccount');
    assert.equal(
      inp(sa).metadata.annotations['eks.amazonaws.com/role-arn'],
      'arn:aws:iam::123456789012:role/models',
    );
    assert.equal(pod(named(run, T.deploy, '-api')).serviceAccountName, 'clawstack-test-app');
  });

  test('the ambient kubeconfig: no kubeconfig input at all', async () => {
    const run = await run1(
      kubernetesConfig({ tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' }),
    );
    assert.equal(one(run, 'pulumi:providers:kubernetes').inputs.kubeconfig, undefined);
    for (const r of run.resources.filter((x) => x.type.startsWith('kubernetes:')))
      assert.ok(!JSON.stringify(r.inputs).includes('kubeconfig'), r.name);
  });
});

describe('kubernetes: Pulumi.k8s.yaml and the offline plan', () => {
  const ROOT = new URL('../../', import.meta.url).pathname;

  test('every key in Pulumi.k8s.yaml has a comment line above it', () => {
    const lines = readFileSync(`${ROOT}Pulumi.k8s.yaml`, 'utf8').split('\n');
    // A key line (`  key:` or `  key: value`, not a list item) must follow a comment or another key's value list.
    const uncommented = lines
      .map((l, n) => [l, lines[n - 1] ?? ''] as const)
      .filter(([l]) => /^\s+[A-Za-z][\w:.-]*:(\s|$)/.test(l))
      .filter(([, above]) => !above.trim().startsWith('#'))
      .map(([l]) => l.trim());
    assert.deepEqual(
      uncommented.filter((l) => !l.startsWith('config:')),
      [],
    );
  });

  test('npm run plan -- --stack k8s: one line of settings for every Kubernetes object', async () => {
    const out: string[] = [];
    const code = await planCommand(['--stack', 'k8s'], {
      log: (t) => out.push(t),
      error: (t) => out.push(t),
    });
    const text = out.join('\n');
    assert.equal(code, 0, text);
    assert.match(text, /^KubernetesDeployment clawstack-k8s {2}\(\d+ resources\)$/m);
    assert.match(
      text,
      /clawstack-k8s-api {2}— Deployment api: ghcr\.io\/clawstack\/clawstack:0\.1\.0, CPU 1500m–2000m, 3072Mi, spot, grace 75 s, ready \/v2\/health\/ready/,
    );
    assert.match(
      text,
      /Ingress k8s\.clawstack\.example\.com \(nginx\), TLS by letsencrypt-prod, paths \/v1 \/v2, from 203\.0\.113\.0\/24,198\.51\.100\.0\/24/,
    );
    assert.match(text, /StatefulSet postgres: postgres:16-alpine, .*20Gi on gp3/);
    assert.match(text, /ScaledObject clawstack-k8s-worker 2–10 on queue depth \(8 per pod\) \+ cpu 70%/);
    assert.match(text, /url: https:\/\/k8s\.clawstack\.example\.com/);
    const bare = text
      .split('\n')
      .filter((l) => /^\s+\+ (kubernetes|pulumi:providers)/.test(l) && !l.includes(' — '));
    assert.deepEqual(bare, []);
  });
});
