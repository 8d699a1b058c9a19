/** The offline plan command (see scripts/plan.ts for usage). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyAssignments, readStackConfig, renderDiff, renderTree } from './describe.ts';
import { runProgram } from './harness.ts';
import { policySection } from './policy.ts';
import { estimateCost } from '../cost/estimate.ts';
import { loadPrices } from '../cost/prices.ts';
import type { PriceTable } from '../cost/prices.ts';
import { renderCost, renderCostDiff } from '../cost/render.ts';
import type { ProgramRun } from './harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const USAGE = `usage: npm run plan -- --stack <name> [--set key=value]... [--compare key=value]... [--json]
  --stack    reads Pulumi.<name>.yaml (dev, staging, prod, …)
  --set      overrides a config key (clawstack: prefix optional; lists as JSON: --set 'allowedCidrs=["203.0.113.0/24"]'; a section key: --set aws.rootVolumeGb=80)
  --compare  prints what changes when these keys are set on top of the stack (and --set) config
  --policy   also runs the policy pack's rules (infra/policy) over the plan (with --compare: over the
             compared config); exits 1 on a violation
  --prices   a price override file (default: prices.override.yaml if present) over scripts/cost/prices.yaml
  --s3-gb    GB the bucket holds for the S3 line of the cost estimate (default from the price table)
  --json     prints the recorded resources as JSON instead of text`;

function header(stack: string, sets: string[], extra = ''): string[] {
  return [
    `OFFLINE PLAN — stack ${stack} (Pulumi.${stack}.yaml${sets.length ? ` + ${sets.map((s) => `--set ${s}`).join(' ')}` : ''})${extra}`,
    'Ran infra/index.ts under Pulumi mocks: no cloud credentials, no Pulumi CLI, no state.',
    'IDs, ARNs, AMI ids and addresses are placeholders; drift and already-existing resources cannot be seen.',
    '',
  ];
}

function outputs(run: ProgramRun): string[] {
  return Object.entries(run.outputs).map(
    ([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
}

function costOf(run: ProgramRun, config: Record<string, string>, table: PriceTable, s3Gb?: number) {
  return estimateCost(run.resources, {
    target: String(run.outputs.target ?? config['clawstack:target'] ?? 'aws'),
    region: config['aws:region'] ?? 'us-east-1',
    table,
    s3Gb,
  });
}

/** Where the plan writes; the CLI passes stdout/stderr, tests collect the text. */
export interface PlanOutput {
  log(text: string): void;
  error(text: string): void;
}

/** Runs the offline plan for command-line arguments; resolves to the exit code. */
export async function planCommand(
  args: string[],
  out: PlanOutput = { log: (t) => console.log(t), error: (t) => console.error(t) },
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      stack: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      compare: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
      policy: { type: 'boolean', default: false },
      prices: { type: 'string' },
      's3-gb': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help || !values.stack) {
    out.log(USAGE);
    return values.help ? 0 : 2;
  }
  const stack = values.stack;
  const sets = values.set ?? [];
  const compares = values.compare ?? [];
  const config = applyAssignments(readStackConfig(ROOT, stack), sets);

  const table = loadPrices(values.prices);
  const s3Gb = values['s3-gb'] === undefined ? undefined : Number(values['s3-gb']);
  const cost = (run: ProgramRun, cfg: Record<string, string>) => costOf(run, cfg, table, s3Gb);
  const run = await runProgram(config, { stack });
  if (run.error) {
    out.error([...header(stack, sets), `FAILED before creating anything: ${run.error.message}`].join('\n'));
    return 1;
  }
  const custom = run.resources.filter((r) => r.custom).length;

  if (values.json) {
    out.log(
      JSON.stringify(
        { offline: true, stack, config, outputs: run.outputs, resources: run.resources },
        null,
        2,
      ),
    );
    return 0;
  }

  if (compares.length) {
    const other = await runProgram(applyAssignments(config, compares), { stack });
    const label = ` compared with ${compares.map((c) => `--compare ${c}`).join(' ')}`;
    if (other.error) {
      out.error(
        [
          ...header(stack, sets, label),
          `the compared config FAILED before creating anything: ${other.error.message}`,
        ].join('\n'),
      );
      return 1;
    }
    const otherCustom = other.resources.filter((r) => r.custom).length;
    const diff = renderDiff(run, other);
    // The switch is what would be deployed: the rules judge the compared config.
    const policy = values.policy
      ? policySection(other, ' of the compared config')
      : { lines: [], violations: 0 };
    out.log(
      [
        ...header(stack, sets, label),
        `resources: ${custom} → ${otherCustom}   (+ added, - removed, ~ changed)`,
        '',
        ...(diff.length ? diff : ['no differences']),
        '',
        'tier:',
        `  ${JSON.stringify(run.outputs.tier)}`,
        `→ ${JSON.stringify(other.outputs.tier)}`,
        ...renderCostDiff(cost(run, config), cost(other, applyAssignments(config, compares)), table),
        ...policy.lines,
      ].join('\n'),
    );
    return policy.violations ? 1 : 0;
  }

  const policy = values.policy ? policySection(run) : { lines: [], violations: 0 };
  out.log(
    [
      ...header(stack, sets),
      `${custom} resources would be created:`,
      '',
      ...renderTree(run),
      '',
      'Outputs:',
      ...outputs(run),
      ...renderCost(cost(run, config), table),
      ...policy.lines,
    ].join('\n'),
  );
  return policy.violations ? 1 : 0;
}
