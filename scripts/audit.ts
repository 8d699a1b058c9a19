/**
 * `npm run audit [-- --level high] [-- --require]`: `npm audit --omit=dev` (production dependencies)
 * and `npm audit signatures`. Fails on findings of `--level` (default high) or worse, or on a bad
 * signature. When the registry's advisory endpoint cannot be asked (it answers 405 on some mirrors,
 * or there is no network) it says so loudly and exits 0 — that is no verdict on the code — unless
 * `--require` (for a release machine that must have a real audit).
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { judgeAudit, judgeSignatures, SEVERITIES, type Severity } from './lib/audit.ts';

const { values } = parseArgs({
  options: { level: { type: 'string', default: 'high' }, require: { type: 'boolean', default: false } },
});
const level = values.level as Severity;
if (!SEVERITIES.includes(level)) throw new Error(`--level must be one of ${SEVERITIES.join(', ')}`);

const npm = (args: string[]) => spawnSync('npm', args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
let failed = false;
let unavailable = false;

const audit = judgeAudit(npm(['audit', '--omit=dev', '--json']).stdout, level);
if (audit.kind === 'report') {
  for (const f of audit.findings)
    console.log(
      `${f.severity.padEnd(8)} ${f.name}${f.direct ? ' (direct)' : ''}${f.fix ? ', fix available' : ''}: ${f.via.join('; ')}`,
    );
  console.log(
    `npm audit --omit=dev: ${audit.findings.length} vulnerable packages, ${audit.failing.length} at ${level} or worse`,
  );
  failed ||= audit.failing.length > 0;
} else if (audit.kind === 'unavailable') {
  unavailable = true;
  console.log(`NOT AUDITED: npm audit --omit=dev could not reach the advisory endpoint: ${audit.why}`);
} else {
  failed = true;
  console.log(`npm audit --omit=dev: ${audit.why}`);
}

const sigRun = npm(['audit', 'signatures']);
const sigOutput = `${sigRun.stdout}${sigRun.stderr}`;
const signatures = judgeSignatures(sigRun.status, sigOutput);
const firstLine = (s: string) => s.split('\n').find((l) => l.trim()) ?? '';
if (signatures === 'verified') console.log(`npm audit signatures: ${firstLine(sigRun.stdout)}`);
else if (signatures === 'invalid') {
  failed = true;
  console.log(`npm audit signatures FAILED:\n${sigOutput}`);
} else {
  unavailable = true;
  const lines = sigOutput.split('\n').map((l) => l.replace(/^npm error (network )?/, ''));
  const why = lines.find((l) => /^request to |\b\d{3} [A-Z]/.test(l)) ?? firstLine(sigOutput);
  console.log(`NOT VERIFIED: npm audit signatures could not fetch the registry's keys: ${why}`);
}

if (unavailable && values.require) failed = true;
process.exit(failed ? 1 : 0);
