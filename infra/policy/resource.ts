/** What a policy rule sees, and small readers over untyped resource inputs. */

/** A declared resource: as the offline plan records it, or as the policy SDK passes it. */
export interface PolicyResource {
  /** Pulumi type token, e.g. `aws:s3/bucket:Bucket`, `kubernetes:apps/v1:Deployment`. */
  type: string;
  name: string;
  /** Inputs (offline plan) or planned properties (policy pack); unknown values are undefined. */
  inputs: Record<string, unknown>;
  urn?: string;
  /** Provider id when known (the offline plan's placeholder ids). */
  id?: string;
  /** URNs this resource depends on (policy pack stack validation). */
  dependencies?: string[];
  /** Components are not checked. */
  custom?: boolean;
}

/** A mandatory policy: per-resource and/or whole-stack checks returning actionable messages. */
export interface Rule {
  name: string;
  description: string;
  resource?(r: PolicyResource): string[];
  stack?(resources: PolicyResource[]): string[];
}

export type Json = Record<string, unknown>;

/** Follows keys through nested objects; undefined when any step is missing. */
export const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);

/** An array input as a list ([] when unset). */
export const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The internet, IPv4 or IPv6. */
export const isWorld = (cidr: unknown) => cidr === '0.0.0.0/0' || cidr === '::/0';
