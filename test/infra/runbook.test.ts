/**
 * The runbook (docs/operations.md, "Respond to each alarm") names every alarm the stacks can raise:
 * each CloudWatch alarm the AWS target declares (as `<prefix>-<name>`), the budget, and each alert of
 * the Kubernetes target's PrometheusRule (existing cluster and `cluster: eks`), for every tier. A new
 * alarm without a runbook row fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TIER_NAMES } from '../../infra/tiers.ts';
import { ofType, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../scripts/plan/harness.ts';
import { ADAPTERS } from './conformance/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The stack the harness runs (`clawstack-<stack>` is the name prefix). */
const PREFIX = 'clawstack-test-';

/** The text of one `## ` section of a markdown file. */
function section(file: string, heading: string): string {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no section "${heading}" in ${file}`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** What the runbook must name for a run: `<prefix>-<alarm>`, the budget, each Prometheus alert. */
function alarmsOf(run: ProgramRun): string[] {
  const cloudwatch = ofType(run, 'aws:cloudwatch/metricAlarm:MetricAlarm').map(
    (r) => `\`<prefix>-${r.name.slice(PREFIX.length)}\``,
  );
  const budget = ofType(run, 'aws:budgets/budget:Budget').length ? ['AWS Budget'] : [];
  const prometheus = run.resources
    .filter((r) => r.type === 'kubernetes:monitoring.coreos.com/v1:PrometheusRule')
    .flatMap((r) =>
      (r.inputs.spec as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) =>
        g.rules.map((rule) => `\`${rule.alert}\``),
      ),
    );
  return [...cloudwatch, ...budget, ...prometheus];
}

describe('runbook: every alarm has a row in "Respond to each alarm"', () => {
  const runbook = section(`${ROOT}docs/operations.md`, 'Respond to each alarm');
  const seen = new Set<string>();

  for (const [target, adapter] of Object.entries(ADAPTERS))
    for (const tier of TIER_NAMES)
      test(`${target}: ${tier}`, async () => {
        // The Kubernetes alerts exist with the Prometheus Operator; the AWS alarms always.
        const extra = adapter.target === 'kubernetes' ? { kubernetes: { prometheusOperator: true } } : {};
        const combo = { tier, capacity: 'spot', dataServices: 'colocated' } as const;
        const run = await runProgram(adapter.config(combo, extra), {
          secretKeys: adapter.secretKeys?.(combo) ?? [],
        });
        assert.equal(run.error, undefined, run.error?.message);
        const alarms = alarmsOf(run);
        alarms.forEach((a) => seen.add(a));
        assert.deepEqual(
          alarms.filter((a) => !runbook.includes(a)),
          [],
        );
      });

  test('the runs above raised CloudWatch alarms, a budget and Prometheus alerts (the check is not empty)', () => {
    const all = [...seen];
    assert.ok(all.some((a) => a.startsWith('`<prefix>-')));
    assert.ok(all.includes('AWS Budget'));
    assert.ok(all.some((a) => a.startsWith('`Clawstack')));
  });
});
