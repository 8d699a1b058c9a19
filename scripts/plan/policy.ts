/** The offline plan's policy section: infra/policy's rules over the recorded resources. */
import { checkStack, RULES } from '../../infra/policy/rules.ts';
import type { ProgramRun } from './harness.ts';

/** Text lines for the plan and the number of violations; `of` says whose plan it is (`--compare`). */
export function policySection(run: ProgramRun, of = ''): { lines: string[]; violations: number } {
  const violations = checkStack(run.resources);
  const head = `POLICY${of} (infra/policy, ${RULES.length} mandatory rules): ${violations.length ? `${violations.length} violation(s)` : 'all pass'}`;
  const byRule = RULES.filter((r) => violations.some((v) => v.rule === r.name)).flatMap((r) => [
    `  ✗ ${r.name} — ${r.description}`,
    ...violations.filter((v) => v.rule === r.name).map((v) => `      ${v.message}`),
  ]);
  return { lines: ['', head, ...byRule], violations: violations.length };
}
