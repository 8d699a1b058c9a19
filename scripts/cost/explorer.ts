/**
 * `npm run cost -- --days 30`: what the stacks actually cost, from AWS Cost Explorer (SDK v3),
 * grouped by service and by the `stack`/`tier` tags every resource carries. The tags must be
 * activated as cost allocation tags once (Billing → Cost allocation tags) before they group spend.
 */
import { CostExplorerClient, GetCostAndUsageCommand } from '@aws-sdk/client-cost-explorer';
import type {
  GetCostAndUsageCommandInput,
  GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run cost -- [--days 30] [--stack <name>]
  --days   how many days back from today (1–365; Cost Explorer keeps 13 months)
  --stack  only this stack (tag stack=<name>); default: every clawstack stack (tag project=clawstack)`;

const day = (d: Date) => d.toISOString().slice(0, 10);

/** The two queries (Cost Explorer groups by at most two keys per query): service, and stack × tier. */
export function costQueries(days: number, now: Date, stack?: string): GetCostAndUsageCommandInput[] {
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const start = new Date(end.getTime() - days * 86_400_000);
  const filter = stack
    ? { Tags: { Key: 'stack', Values: [stack], MatchOptions: ['EQUALS' as const] } }
    : { Tags: { Key: 'project', Values: ['clawstack'], MatchOptions: ['EQUALS' as const] } };
  const base = {
    TimePeriod: { Start: day(start), End: day(end) },
    Granularity: 'MONTHLY' as const,
    Metrics: ['UnblendedCost'],
    Filter: filter,
  };
  return [
    { ...base, GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }] },
    {
      ...base,
      GroupBy: [
        { Type: 'TAG', Key: 'stack' },
        { Type: 'TAG', Key: 'tier' },
      ],
    },
  ];
}

/** Sums a response's groups over its time periods: group label → USD. Tag keys read `stack$dev`. */
export function sumGroups(res: Pick<GetCostAndUsageCommandOutput, 'ResultsByTime'>): Map<string, number> {
  const out = new Map<string, number>();
  for (const period of res.ResultsByTime ?? [])
    for (const g of period.Groups ?? []) {
      const label = (g.Keys ?? [])
        .map((k) => (k.includes('$') ? `${k.split('$')[0]}=${k.split('$')[1] || '(untagged)'}` : k))
        .join(' ');
      out.set(label, (out.get(label) ?? 0) + Number(g.Metrics?.UnblendedCost?.Amount ?? 0));
    }
  return out;
}

/** The report text for the two summed responses. */
export function renderSpend(
  days: number,
  byService: Map<string, number>,
  byTags: Map<string, number>,
): string[] {
  const rows = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  $${v.toFixed(2).padStart(10)}  ${k}`);
  const total = [...byService.values()].reduce((a, b) => a + b, 0);
  return [
    `ACTUAL SPEND, last ${days} days (AWS Cost Explorer, unblended): $${total.toFixed(2)}`,
    '',
    'by service:',
    ...(byService.size ? rows(byService) : ['  (nothing billed to resources tagged project=clawstack)']),
    '',
    'by stack and tier tag:',
    ...(byTags.size
      ? rows(byTags)
      : ['  (no tagged spend: activate stack and tier as cost allocation tags)']),
  ];
}

export const NO_CREDENTIALS = `no AWS credentials found, so Cost Explorer cannot be asked.
Set them the usual way (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO login, or a role
in CI), with permission ce:GetCostAndUsage. The estimate needs none: npm run plan -- --stack <name>`;

interface Out {
  log(t: string): void;
  error(t: string): void;
}

/** Runs the cost report; resolves to the exit code (2: no credentials or bad arguments). */
export async function costCommand(
  args: string[],
  out: Out = { log: (t) => console.log(t), error: (t) => console.error(t) },
  client: CostExplorerClient = new CostExplorerClient({ region: 'us-east-1' }),
  now = new Date(),
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      days: { type: 'string', default: '30' },
      stack: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const days = Number(values.days);
  if (values.help || !Number.isInteger(days) || days < 1 || days > 365) {
    out.log(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    // Resolve credentials before any request, so a missing login is one clear message.
    await client.config.credentials();
  } catch {
    out.error(NO_CREDENTIALS);
    return 2;
  }
  const [service, tags] = await Promise.all(
    costQueries(days, now, values.stack).map((q) => client.send(new GetCostAndUsageCommand(q))),
  );
  out.log(renderSpend(days, sumGroups(service!), sumGroups(tags!)).join('\n'));
  return 0;
}
