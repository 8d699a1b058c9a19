/**
 * Validates recorded Kubernetes objects against the upstream schemas: the Kubernetes OpenAPI
 * (kubernetes-models) and the published CRD schemas of the Prometheus Operator and KEDA
 * (@kubernetes-models/prometheus-operator, @kubernetes-models/keda) and cert-manager
 * (@kubernetes-models/cert-manager, for the ClusterIssuer of `cluster: eks`). A type with no validator is an
 * error, so a new kind of object cannot go unchecked. kubernetes-models 4.5 carries the Kubernetes 1.33.0
 * OpenAPI: its 5.x (1.36) and the CRD packages' next majors require Node 22, and we run Node 20.
 */
import type { RecordedResource } from '../../scripts/plan/harness.ts';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** `kubernetes:<group>/<version>:<Kind>` → the module that ships its model and validator. */
export function modelModule(type: string): string {
  const m = /^kubernetes:([^/]+)\/([^:]+):(\w+)$/.exec(type);
  if (!m) throw new Error(`not a Kubernetes object type: ${type}`);
  const [, group, version, kind] = m as unknown as [string, string, string, string];
  if (group === 'core') return `kubernetes-models/${version}/${kind}`;
  if (group === 'monitoring.coreos.com')
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  if (group === 'keda.sh') return `@kubernetes-models/keda/${group}/${version}/${kind}`;
  if (group === 'cert-manager.io') return `@kubernetes-models/cert-manager/${group}/${version}/${kind}`;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

/** Validation errors of one recorded object (empty when it conforms). */
export async function schemaErrors(r: RecordedResource): Promise<string[]> {
  const kind = /:(\w+)$/.exec(r.type)![1]!;
  const mod = (await import(modelModule(r.type))) as Record<string, ModelClass>;
  const Model = mod[kind];
  if (!Model) return [`${r.type}: no model ${kind} in ${modelModule(r.type)}`];
  try {
    new Model(r.inputs).validate();
    return [];
  } catch (e) {
    return [`${r.type} ${r.name}: ${(e as Error).message}`];
  }
}

/** Label syntax (k8s.io/docs/concepts/overview/working-with-objects/labels). */
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export function labelErrors(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([key, value]) => {
    const [prefix, name] = key.includes('/') ? key.split('/', 2) : [undefined, key];
    const keyOk =
      !!name &&
      name.length <= 63 &&
      NAME.test(name) &&
      (!prefix || (prefix.length <= 253 && PREFIX.test(prefix)));
    const valueOk = value === '' || (value.length <= 63 && NAME.test(value));
    return keyOk && valueOk ? [] : [`${key}=${value}`];
  });
}
