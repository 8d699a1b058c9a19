/**
 * The hourly traffic comparison: this hour's requests as a percentage of the same hour a day
 * earlier, published as `RequestCountVsDayBefore` (CloudWatch alarms cannot shift a metric by a day).
 */
import { GetMetricDataCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { GetMetricDataCommandOutput, Metric } from '@aws-sdk/client-cloudwatch';
import type { CommandClient } from './sdk.ts';

export interface TrafficConfig {
  /** The request-count metric (ALB RequestCount, or the access-log metric on the instance edge). */
  source: Metric;
  /** Namespace the percentage is published in. */
  namespace: string;
  stack: string;
  /** Below this many requests a day earlier, the comparison means nothing and is skipped. */
  minRequests: number;
}

export type TrafficResult =
  | { skipped: true; today: number; yesterday: number }
  | { skipped?: false; today: number; yesterday: number; value: number };

const HOUR_MS = 3600e3;
const DAY_MS = 24 * HOUR_MS;

/** The function's configuration from its environment (set by Observability). */
export function trafficConfig(env: Record<string, string | undefined>): TrafficConfig {
  if (!env.SOURCE_METRIC || !env.TARGET_NAMESPACE || !env.STACK)
    throw new Error('SOURCE_METRIC, TARGET_NAMESPACE and STACK must be set');
  return {
    source: JSON.parse(env.SOURCE_METRIC) as Metric,
    namespace: env.TARGET_NAMESPACE,
    stack: env.STACK,
    minRequests: Number(env.MIN_REQUESTS || '100'),
  };
}

/** The start of the hour `now` falls in. */
export function hourStart(now: Date): Date {
  return new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
}

/** The percentage published, or undefined when a day earlier had too few requests to compare. */
export function percentOfDayBefore(
  today: number,
  yesterday: number,
  minRequests: number,
): number | undefined {
  return yesterday < minRequests ? undefined : (100 * today) / yesterday;
}

async function hourSum(cw: CommandClient, metric: Metric, end: Date): Promise<number> {
  const r = (await cw.send(
    new GetMetricDataCommand({
      StartTime: new Date(end.getTime() - HOUR_MS),
      EndTime: end,
      MetricDataQueries: [
        { Id: 'm', MetricStat: { Metric: metric, Period: 3600, Stat: 'Sum' }, ReturnData: true },
      ],
    }),
  )) as GetMetricDataCommandOutput;
  return (r.MetricDataResults?.[0]?.Values ?? []).reduce((a, b) => a + b, 0);
}

/** Compares the last full hour with the same hour a day earlier and publishes the percentage. */
export async function compareTraffic(
  cw: CommandClient,
  cfg: TrafficConfig,
  now: Date,
): Promise<TrafficResult> {
  const end = hourStart(now);
  const [today, yesterday] = await Promise.all([
    hourSum(cw, cfg.source, end),
    hourSum(cw, cfg.source, new Date(end.getTime() - DAY_MS)),
  ]);
  const value = percentOfDayBefore(today, yesterday, cfg.minRequests);
  if (value === undefined) return { skipped: true, today, yesterday };
  await cw.send(
    new PutMetricDataCommand({
      Namespace: cfg.namespace,
      MetricData: [
        {
          MetricName: 'RequestCountVsDayBefore',
          Dimensions: [{ Name: 'Stack', Value: cfg.stack }],
          Value: value,
          Unit: 'Percent',
          Timestamp: end,
        },
      ],
    }),
  );
  return { today, yesterday, value };
}
