/** Text for the offline plan's cost section and for the cost side of `--compare`. */
import type { CostEstimate, CostLine } from './estimate.ts';
import type { PriceTable } from './prices.ts';

const money = (usd: number) => `$${usd.toFixed(2)}`;
const NOT_INCLUDED =
  'not included: data transfer, NAT/ALB traffic beyond the assumed LCU, CloudWatch Logs ingestion, S3 requests, WAF requests, Lambda, taxes, credits and discounts';

function heading(est: CostEstimate, table: PriceTable): string {
  return `ESTIMATED MONTHLY COST (an estimate, not a bill) — ${est.region} list prices from scripts/cost/prices.yaml, retrieved ${table.retrieved} (${table.source}), ${table.hoursPerMonth} h/month`;
}

/** The cost section under a plan. */
export function renderCost(est: CostEstimate, table: PriceTable): string[] {
  if (est.notEstimated) return ['', `COST: not estimated — ${est.notEstimated}.`];
  const width = Math.max(...est.lines.map((l) => money(l.monthlyUsd).length), 6);
  return [
    '',
    heading(est, table),
    ...[...est.lines]
      .sort((x, y) => y.monthlyUsd - x.monthlyUsd)
      .map(
        (l) =>
          `  ${money(l.monthlyUsd).padStart(width)}  ${l.item}  (${l.resource})${l.unpriced ? `  ! ${l.unpriced}` : ''}`,
      ),
    `  ${'—'.repeat(width)}`,
    `  ${money(est.totalUsd).padStart(width)}  per month at the desired size${est.atMaxUsd > est.totalUsd ? `; ${money(est.atMaxUsd)} if the fleet scales to maxSize` : ''}`,
    `  ${NOT_INCLUDED}`,
  ];
}

const key = (l: CostLine) => `${l.resource} ${l.item}`;

/** The cost difference of a `--compare`, next to the resource difference. */
export function renderCostDiff(a: CostEstimate, b: CostEstimate, table: PriceTable): string[] {
  if (a.notEstimated || b.notEstimated)
    return ['', `COST: not estimated — ${a.notEstimated ?? b.notEstimated}.`];
  const delta = b.totalUsd - a.totalUsd;
  const pct = a.totalUsd > 0 ? ` (${delta >= 0 ? '+' : ''}${((delta / a.totalUsd) * 100).toFixed(0)} %)` : '';
  const before = new Map(a.lines.map((l) => [key(l), l]));
  const after = new Map(b.lines.map((l) => [key(l), l]));
  const changed = [
    ...a.lines
      .filter((l) => !after.has(key(l)))
      .map((l) => `  - ${money(l.monthlyUsd)}  ${l.item}  (${l.resource})`),
    ...b.lines
      .filter((l) => !before.has(key(l)))
      .map((l) => `  + ${money(l.monthlyUsd)}  ${l.item}  (${l.resource})`),
  ];
  return [
    '',
    heading(b, table),
    `  ${money(a.totalUsd)} → ${money(b.totalUsd)} per month: ${delta >= 0 ? '+' : '−'}${money(Math.abs(delta))}${pct}`,
    ...(changed.length ? changed : ['  no priced line changes']),
    `  ${NOT_INCLUDED}`,
  ];
}
