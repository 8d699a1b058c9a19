/**
 * Builds the one PR comment that holds every stack's offline plan (from the plan files the PR
 * workflow uploaded: <dir>/<stack>.txt and <stack>.rc), marked so the next push updates it.
 *   tsx scripts/ci/plan-comment.ts <dir> > comment.md
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const MARKER = '<!-- clawstack-offline-plan -->';
const LIMIT = 60_000; // GitHub comments hold 65 536 characters

/** The comment body for the plan files in `dir`. */
export function planComment(dir: string, sha = ''): string {
  const stacks = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => f.slice(0, -4))
    .sort();
  const per = Math.floor(LIMIT / Math.max(stacks.length, 1)) - 200;
  const sections = stacks.map((stack) => {
    const text = readFileSync(path.join(dir, `${stack}.txt`), 'utf8');
    const rcFile = path.join(dir, `${stack}.rc`);
    const ok = !existsSync(rcFile) || readFileSync(rcFile, 'utf8').trim() === '0';
    const body =
      text.length > per ? `${text.slice(0, per)}\n… (cut; the full plan is in the run's artifacts)` : text;
    return `<details${ok ? '' : ' open'}><summary><b>${stack}</b> — ${ok ? 'plan and policy pass' : '❌ plan failed or a policy is violated'}</summary>\n\n\`\`\`\n${body}\n\`\`\`\n</details>`;
  });
  return [
    MARKER,
    `### Offline plan${sha ? ` for ${sha.slice(0, 7)}` : ''} (no cloud credentials; Pulumi mocks)`,
    'Made by `npm run plan -- --stack <stack> --policy`: resources, policy pack, and an **estimated** monthly cost. It cannot see drift or existing resources; where credentials exist, `pulumi preview` comments follow.',
    '',
    ...sections,
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.stdout.write(planComment(process.argv[2] ?? '.', process.env.HEAD_SHA ?? ''));
