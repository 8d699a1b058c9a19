/**
 * The production image definition (app/Dockerfile, static check): its final stage runs as a non-root
 * user and carries no build tools — no compiler, no package install, no dev dependencies.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions (continuation lines joined, comments dropped). */
function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const all = instructions(readFileSync('app/Dockerfile', 'utf8'));
const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
const final = all.slice(lastFrom);
const stageNames = all.filter((i) => i.op === 'FROM').flatMap((i) => /\bAS\s+(\S+)/i.exec(i.args)?.[1] ?? []);

test('the final stage switches to a non-root user and never back', () => {
  const users = final.filter((i) => i.op === 'USER').map((i) => i.args.split(':')[0]);
  assert.ok(users.length > 0, 'no USER in the final stage: it would run as root');
  const last = users.at(-1)!;
  assert.ok(!['root', '0'].includes(last), `final USER is ${last}`);
});

test('the final stage starts from a runtime base, not from a build stage', () => {
  const base = final[0]!.args.split(/\s+/)[0]!;
  assert.ok(!stageNames.includes(base), `final stage builds on stage ${base}`);
  assert.match(base, /slim|distroless|alpine/, `final base ${base} is a full image`);
});

test('no compiler, package manager install or dev dependency reaches the final stage', () => {
  for (const i of final.filter((x) => x.op === 'RUN')) {
    assert.doesNotMatch(i.args, /apt-get install|apk add|build-essential|gcc|g\+\+|make|python3?\b/, i.args);
    assert.doesNotMatch(i.args, /npm (ci|install)|yarn|pnpm/, i.args);
  }
  for (const i of final.filter((x) => x.op === 'COPY' && x.args.includes('--from='))) {
    // node_modules only from the stage that installed production dependencies (--omit=dev)
    if (/node_modules/.test(i.args)) assert.match(i.args, /--from=deps\b/, i.args);
  }
  const deps = all.slice(all.findIndex((i) => i.op === 'FROM' && /\bAS\s+deps\b/i.test(i.args)));
  const install = deps.find((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args));
  assert.ok(install, 'the deps stage installs dependencies');
  assert.match(install.args, /--omit=dev/);
  assert.match(install.args, /--ignore-scripts/);
});
