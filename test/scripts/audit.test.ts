/** `npm run audit`: a report fails on findings at the threshold; a refused advisory endpoint is "not audited", never "clean". */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeAudit, judgeSignatures } from '../../scripts/lib/audit.ts';

/** npm 11's answer here, verbatim but for the headers: the registry refuses the bulk advisory POST. */
const REFUSED = JSON.stringify({
  message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  method: 'POST',
  uri: 'https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  headers: { allow: ['GET,HEAD'] },
  statusCode: 405,
  body: '',
  error: { summary: '', detail: '' },
});

const report = (vulnerabilities: object) =>
  JSON.stringify({ auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: {} } });

const REPORT = report({
  glob: {
    name: 'glob',
    severity: 'high',
    isDirect: false,
    via: [
      {
        source: 1109843,
        name: 'glob',
        title: 'glob CLI: Command injection via -c/--cmd',
        url: 'https://github.com/advisories/GHSA-5j98-mcp5-4vw2',
        severity: 'high',
        range: '>=10.2.0 <10.5.0',
      },
    ],
    fixAvailable: true,
  },
  rimraf: { name: 'rimraf', severity: 'high', isDirect: true, via: ['glob'], fixAvailable: false },
  tmp: {
    name: 'tmp',
    severity: 'low',
    isDirect: false,
    via: [{ title: 'symlink', url: 'u', severity: 'low' }],
  },
});

test('findings at the threshold or worse fail; milder ones are listed but pass', () => {
  const high = judgeAudit(REPORT, 'high');
  assert.equal(high.kind, 'report');
  if (high.kind !== 'report') return;
  assert.deepEqual(
    high.failing.map((f) => f.name),
    ['glob', 'rimraf'],
  );
  assert.deepEqual(
    high.findings.find((f) => f.name === 'rimraf'),
    {
      name: 'rimraf',
      severity: 'high',
      direct: true,
      via: ['through glob'],
      fix: false,
    },
  );
  assert.match(high.findings[0]!.via[0]!, /Command injection .*GHSA-5j98/);
  const critical = judgeAudit(REPORT, 'critical');
  assert.equal(critical.kind === 'report' && critical.failing.length, 0);
  const low = judgeAudit(REPORT, 'low');
  assert.equal(low.kind === 'report' && low.failing.length, 3);
  const clean = judgeAudit(report({}), 'info');
  assert.deepEqual(clean, { kind: 'report', findings: [], failing: [] });
});

test('a refused endpoint or no network is "unavailable" with the reason; anything else is unreadable', () => {
  assert.deepEqual(judgeAudit(REFUSED, 'high'), {
    kind: 'unavailable',
    why: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  });
  const offline = JSON.stringify({
    error: { code: 'ENOTFOUND', summary: 'request to … failed', detail: '' },
  });
  assert.deepEqual(judgeAudit(offline, 'high'), {
    kind: 'unavailable',
    why: 'ENOTFOUND: request to … failed',
  });
  assert.equal(judgeAudit('npm ERR! something', 'high').kind, 'unreadable');
  assert.equal(judgeAudit('{"what": 1}', 'high').kind, 'unreadable');
});

test('signatures: verified on success, invalid only when npm says so, unavailable when it cannot fetch keys', () => {
  assert.equal(
    judgeSignatures(0, 'audited 420 packages in 3s\n420 packages have verified registry signatures'),
    'verified',
  );
  assert.equal(
    judgeSignatures(1, 'audited 420 packages\n1 package has an invalid registry signature:\nfoo@1.0.0'),
    'invalid',
  );
  assert.equal(
    judgeSignatures(
      1,
      'npm error code ENOTFOUND\nnpm error network request to https://tuf-repo-cdn.sigstore.dev/15.root.json failed',
    ),
    'unavailable',
  );
});
