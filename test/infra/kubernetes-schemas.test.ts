/**
 * The schema check of test/infra/kubernetes*.test.ts catches mistakes: for each package that ships a
 * schema (Kubernetes OpenAPI, Prometheus Operator, KEDA, cert-manager) a well-formed object passes and
 * the same object with one wrong field fails, naming that field; an unknown kind is an error too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecordedResource } from '../../scripts/plan/harness.ts';
import { modelModule, schemaErrors } from './kubernetes-schemas.ts';

const object = (type: string, inputs: Record<string, unknown>): RecordedResource => ({
  type,
  name: 'x',
  urn: `urn:pulumi:test::clawstack::${type}::x`,
  custom: true,
  inputs,
  secrets: [],
  options: { ignoreChanges: [], dependsOn: [] },
});

const metadata = { name: 'x', namespace: 'clawstack', labels: { app: 'x' } };
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata,
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'x' } },
    template: {
      metadata: { labels: { app: 'x' } },
      spec: { containers: [{ name: 'api', image: 'clawstack:1', ports: [{ containerPort: 8080 }] }] },
    },
  },
};

/** [type, a valid object, the same object broken, the path the error must name] */
const CASES: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
  [
    'kubernetes:apps/v1:Deployment',
    deployment,
    { ...deployment, spec: { ...deployment.spec, replicas: 'two' } },
    /spec\/replicas must be integer/,
  ],
  [
    'kubernetes:autoscaling/v2:HorizontalPodAutoscaler',
    {
      metadata,
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x' }, maxReplicas: 4 },
    },
    { metadata, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x' } } },
    /spec must have required property maxReplicas/,
  ],
  [
    'kubernetes:monitoring.coreos.com/v1:ServiceMonitor',
    {
      metadata,
      spec: { selector: { matchLabels: { app: 'x' } }, endpoints: [{ port: 'http', path: '/metrics' }] },
    },
    { metadata, spec: { selector: { matchLabels: { app: 'x' } }, endpoints: { port: 'http' } } },
    /spec\/endpoints must be array/,
  ],
  [
    'kubernetes:monitoring.coreos.com/v1:PrometheusRule',
    { metadata, spec: { groups: [{ name: 'x', rules: [{ alert: 'Down', expr: 'up == 0' }] }] } },
    { metadata, spec: { groups: [{ rules: [{ alert: 'Down', expr: 'up == 0' }] }] } },
    /spec\/groups\/0 must have required property name/,
  ],
  [
    'kubernetes:keda.sh/v1alpha1:ScaledObject',
    {
      metadata,
      spec: {
        scaleTargetRef: { name: 'x' },
        triggers: [{ type: 'prometheus', metadata: { query: 'up', threshold: '1' } }],
      },
    },
    { metadata, spec: { triggers: [{ type: 'prometheus', metadata: { query: 'up' } }] } },
    /spec must have required property scaleTargetRef/,
  ],
  [
    'kubernetes:cert-manager.io/v1:ClusterIssuer',
    {
      metadata: { name: 'letsencrypt' },
      spec: {
        acme: {
          server: 'https://acme-v02.api.letsencrypt.org/directory',
          email: 'ops@example.com',
          privateKeySecretRef: { name: 'letsencrypt' },
          solvers: [{ http01: { ingress: { ingressClassName: 'nginx' } } }],
        },
      },
    },
    {
      metadata: { name: 'letsencrypt' },
      spec: { acme: { server: 'https://acme-v02.api.letsencrypt.org/directory', solvers: [] } },
    },
    /spec\/acme must have required property privateKeySecretRef/,
  ],
];

for (const [type, good, bad, names] of CASES) {
  test(`${type}: a well-formed object passes, a wrong field fails naming it`, async () => {
    assert.deepEqual(await schemaErrors(object(type, good)), []);
    const errors = await schemaErrors(object(type, bad));
    assert.equal(errors.length, 1, String(errors));
    assert.match(errors[0]!, names);
  });
}

test('a kind the package does not ship is an error, not a pass', async () => {
  await assert.rejects(schemaErrors(object('kubernetes:apps/v1:NoSuchKind', {})), /NoSuchKind/);
  assert.throws(() => modelModule('aws:s3/bucket:Bucket'), /not a Kubernetes object type/);
});
