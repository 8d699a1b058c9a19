/**
 * What `npm audit --omit=dev --json` answered: a report (findings by severity), or no report because the
 * advisory endpoint could not be asked (refused, not found, no network). The second is said as such —
 * never read as "clean" — and is not a failure of the code; findings at or above the threshold are.
 */

export const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

interface Advisory {
  title?: string;
  url?: string;
  severity?: Severity;
  range?: string;
}

/** npm's audit report, version 2 (npm 7 and later): one entry per vulnerable package. */
interface AuditReport {
  auditReportVersion: number;
  vulnerabilities: Record<
    string,
    {
      name: string;
      severity: Severity;
      isDirect?: boolean;
      via: (string | Advisory)[];
      fixAvailable?: unknown;
    }
  >;
}

export interface Finding {
  name: string;
  severity: Severity;
  direct: boolean;
  /** Advisory titles and links, or the packages it is vulnerable through. */
  via: string[];
  fix: boolean;
}

export type AuditVerdict =
  | { kind: 'report'; findings: Finding[]; failing: Finding[] }
  | { kind: 'unavailable'; why: string }
  | { kind: 'unreadable'; why: string };

const atLeast = (s: Severity, level: Severity) => SEVERITIES.indexOf(s) >= SEVERITIES.indexOf(level);

/** Judges npm's JSON output against `level` (findings of that severity or worse fail). */
export function judgeAudit(stdout: string, level: Severity): AuditVerdict {
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch {
    return { kind: 'unreadable', why: `npm audit printed no JSON: ${stdout.slice(0, 300)}` };
  }
  const o = (out ?? {}) as Record<string, unknown>;
  if (o.auditReportVersion === 2 && o.vulnerabilities && typeof o.vulnerabilities === 'object') {
    const findings = Object.values((o as unknown as AuditReport).vulnerabilities).map((v) => ({
      name: v.name,
      severity: v.severity,
      direct: Boolean(v.isDirect),
      via: v.via.map((x) =>
        typeof x === 'string' ? `through ${x}` : `${x.title ?? '?'} (${x.url ?? 'no link'})`,
      ),
      fix: Boolean(v.fixAvailable),
    }));
    return { kind: 'report', findings, failing: findings.filter((f) => atLeast(f.severity, level)) };
  }
  // npm's error shapes: an HTTP answer of the registry ({statusCode, uri, message}) or a network error
  // ({error: {code, summary}}).
  if (typeof o.statusCode === 'number')
    return { kind: 'unavailable', why: `${String(o.message ?? o.statusCode)}`.trim() };
  const err = o.error as { code?: string; summary?: string } | undefined;
  if (err && (err.code || err.summary))
    return { kind: 'unavailable', why: [err.code, err.summary].filter(Boolean).join(': ') };
  return { kind: 'unreadable', why: `unexpected npm audit output: ${stdout.slice(0, 300)}` };
}

/** `npm audit signatures`: verified, some bad (fails), or it could not fetch keys (unavailable). */
export function judgeSignatures(
  status: number | null,
  output: string,
): 'verified' | 'invalid' | 'unavailable' {
  if (status === 0) return 'verified';
  if (
    /invalid|missing .*signature|tampered/i.test(output) &&
    !/ENOTFOUND|EAI_AGAIN|ECONN|ETIMEDOUT/.test(output)
  )
    return 'invalid';
  return 'unavailable';
}
