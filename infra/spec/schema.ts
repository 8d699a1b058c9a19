/**
 * The parts every config section is built from: the error a bad value raises, value parsers for
 * the forms the Pulumi CLI stores (strings; structured values as JSON text or JSON values inside a
 * section object), and `readSection`, which parses one section's keys against their definitions.
 */
import { z } from 'zod';

export const PROJECT = 'clawstack';

/** A stack config value that cannot work; thrown before any resource is registered. */
export class StackConfigError extends Error {
  constructor(
    /** Fully qualified key, e.g. `clawstack:tier` or `clawstack:aws.instanceTypes`. */
    readonly key: string,
    /** The value found (undefined when missing). */
    readonly value: unknown,
    /** What would have been accepted. */
    readonly allowed: string,
    reason?: string,
  ) {
    const shown = value === undefined ? '(unset)' : JSON.stringify(value);
    super(`invalid stack config ${key} = ${shown}${reason ? `: ${reason}` : ''}; allowed: ${allowed}`);
    this.name = 'StackConfigError';
  }
}

/** One config key: its schema and the "allowed" text that errors and docs/infra.md repeat. */
export interface KeyDef {
  schema: z.ZodType;
  /** Shown in errors and in docs/infra.md. */
  allowed: string;
}

const IPV4_CIDR =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(3[0-2]|[12]?\d)$/;
export const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
export const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
export const IMAGE_REF =
  /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?$/;

/** Is `cidr` a well-formed IPv4 CIDR whose address has no bits set past the prefix? */
export function isCidr(cidr: string): boolean {
  if (!IPV4_CIDR.test(cidr)) return false;
  const [ip, bits] = cidr.split('/') as [string, string];
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const prefix = Number(bits);
  const hostBits = 32 - prefix;
  return hostBits === 32 ? n === 0 : n % 2 ** hostBits === 0;
}

/** JSON text → value; anything else (or text that is not JSON) is returned as it is. */
export function jsonText(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const text = raw.trim();
  if (!text.startsWith('[') && !text.startsWith('{')) return raw;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return raw;
  }
}

/** A list: a YAML/JSON array, JSON text, or comma-separated text. */
export const list = (item: z.ZodType<string>) =>
  z.preprocess((raw) => {
    const value = jsonText(raw);
    if (typeof value !== 'string') return value;
    return value.trim() === '' ? [] : value.split(',').map((s) => s.trim());
  }, z.array(item));

/** An object of names to scalar values (stringified). */
export const record = z.preprocess(
  jsonText,
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)),
);

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const bool = z.preprocess(
  (raw) => (typeof raw === 'string' ? raw.trim().toLowerCase() : raw),
  z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
);
export const cidrList = (min = 0) => list(z.string().refine(isCidr)).pipe(z.array(z.string()).min(min));

type Parsed<D extends Record<string, KeyDef>> = { [K in keyof D]?: z.output<D[K]['schema']> };

/**
 * Parses the keys of one section against their definitions. `qualify` turns a key into the name a
 * user writes (`clawstack:tier`, `clawstack:aws.instanceTypes`). Unknown keys are errors, so a typo
 * never silently falls back to a default.
 */
export function readSection<D extends Record<string, KeyDef>>(
  raw: Record<string, unknown>,
  defs: D,
  qualify: (key: string) => string,
): Parsed<D> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // own keys only: `constructor` or `__proto__` in a stack file is an unknown key, not Object's
    const def = Object.hasOwn(defs, key) ? defs[key] : undefined;
    if (!def)
      throw new StackConfigError(
        qualify(key),
        value,
        `one of the documented keys (docs/infra.md): ${Object.keys(defs).map(qualify).join(', ')}`,
        'unknown key',
      );
    if (value === undefined || value === null) continue;
    const parsed = def.schema.safeParse(value);
    if (!parsed.success) throw new StackConfigError(qualify(key), value, def.allowed);
    out[key] = parsed.data;
  }
  return out as Parsed<D>;
}

/** The section object of `clawstack:<name>` (a YAML mapping, or its JSON text), or `{}` when unset. */
export function sectionObject(key: string, raw: unknown): Record<string, unknown> {
  if (raw === undefined) return {};
  const value = jsonText(raw);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new StackConfigError(key, raw, 'a mapping of keys to values (see docs/infra.md)');
  return value as Record<string, unknown>;
}
