/**
 * The price table (./prices.yaml, dated, with its source) and an optional override file of the same
 * shape merged over it (`--prices <file>`, or prices.override.yaml at the repository root).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

const usd = z.number().nonnegative();
const perKey = z.record(z.string(), usd);
const regionSchema = z.object({
  ec2Hour: perKey,
  ebsGbMonth: perKey,
  natGatewayHour: usd,
  publicIpv4Hour: usd,
  albHour: usd,
  albLcuHour: usd,
  nlbHour: usd,
  eksClusterHour: usd,
  interfaceEndpointHour: usd,
  rdsHour: perKey,
  rdsStorageGbMonth: usd,
  elasticacheHour: perKey,
  s3StandardGbMonth: usd,
  wafWebAclMonth: usd,
  wafRuleMonth: usd,
  secretMonth: usd,
  alarmMonth: usd,
  dashboardMonth: usd,
  /** Kinesis Data Firehose ingestion, per GB (the archived app logs). */
  firehoseGb: usd,
  /** Vended logs (VPC flow logs) delivered to S3, per GB. */
  vendedLogsS3Gb: usd,
  /** CloudWatch custom metric, per metric and month (the agent's, metric filters', a function's). */
  customMetricMonth: usd,
  /** KMS customer managed key, per key and month. */
  kmsKeyMonth: usd,
  /** EBS snapshot storage (standard tier), per GB-month. */
  ebsSnapshotGbMonth: usd,
});
const tableSchema = z.object({
  retrieved: z.string(),
  source: z.string(),
  hoursPerMonth: z.number().positive(),
  assumptions: z.object({
    spotFactor: z.number().min(0).max(1),
    s3StandardGb: usd,
    albLcu: usd,
    archivedLogGb: usd,
    flowLogGb: usd,
  }),
  regions: z.record(z.string(), regionSchema),
});
export type PriceTable = z.infer<typeof tableSchema>;
export type RegionPrices = z.infer<typeof regionSchema>;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PRICES_FILE = path.join(ROOT, 'scripts/cost/prices.yaml');
export const DEFAULT_OVERRIDE_FILE = path.join(ROOT, 'prices.override.yaml');

const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v);

/** `over` merged into `base`, key by key (objects recursively; anything else replaces). */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** The table with an override merged over it; throws naming the file and the bad field. */
export function loadPrices(overrideFile?: string): PriceTable {
  const base = parse(readFileSync(PRICES_FILE, 'utf8')) as unknown;
  const file = overrideFile ?? (existsSync(DEFAULT_OVERRIDE_FILE) ? DEFAULT_OVERRIDE_FILE : undefined);
  const merged = file ? deepMerge(base, parse(readFileSync(file, 'utf8'))) : base;
  const parsed = tableSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`price table${file ? ` (with ${file})` : ''}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
