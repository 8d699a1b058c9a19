/**
 * The README's API examples, run against the real service with every model: each `curl` in the
 * "Using the API" block answers 2xx, each value a `# →` line shows is what the service answers, and
 * the short-chat sentence ("lunch at noon?" → ham) holds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { useTestApp } from '../harness/app.ts';

const app = useTestApp({ MODELS: 'text-spam,silero-vad,ocr-det,ocr-rec', ECHO_TASK: 'true' }); // the README's debug.echo example needs ECHO_TASK;

export interface Example {
  method: string;
  path: string;
  contentType?: string;
  /** JSON text (-d) or a file (--data-binary @file). */
  body?: { json: string } | { file: string };
  /** The `# →` text after it, continuation lines joined; undefined when none. */
  expected?: string;
}

/** The curl examples of the README's first `sh` block that uses $URL (pure). */
export function readmeExamples(readme: string): Example[] {
  const block = /```sh\n(KEY=[^\n]*URL=[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const lines = block.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^curl /.test(lines[i]!)) continue;
    let cmd = lines[i]!;
    // a command goes on after a trailing backslash, or while a single quote is open
    while ((/\\$/.test(cmd) || (cmd.match(/'/g) ?? []).length % 2 === 1) && i + 1 < lines.length)
      cmd = `${cmd.replace(/\\$/, '')}\n${lines[++i]!}`;
    let expected: string | undefined;
    if (lines[i + 1]?.startsWith('# → ')) {
      expected = lines[++i]!.slice(4);
      while (/^# {3}\S/.test(lines[i + 1] ?? '')) expected += lines[++i]!.slice(2).trim();
    }
    for (const one of cmd.split(/;\s*/).filter((c) => /^\s*curl /.test(c) && !c.includes('|'))) {
      const path = /\$URL(\/[^\s"]*)/.exec(one)?.[1];
      if (!path) continue;
      const json = /-d '([\s\S]*?)'/.exec(one)?.[1];
      const file = /--data-binary @(\S+)/.exec(one)?.[1];
      out.push({
        method: /-X (\w+)/.exec(one)?.[1] ?? (json || file ? 'POST' : 'GET'),
        path,
        contentType: /-H 'Content-Type: ([^']+)'/.exec(one)?.[1],
        body: json ? { json } : file ? { file } : undefined,
        expected: one === cmd.split(/;\s*/)[0] ? expected : undefined,
      });
    }
  }
  return out;
}

/** Every `"key":value` the README shows with a concrete string or number (`…` stands for anything). */
export function shownValues(expected: string): [key: string, value: string | number][] {
  return [...expected.matchAll(/"(\w+)":("[^"]*"|-?\d+(?:\.\d+)?(?:e-?\d+)?)/g)]
    .filter(([, , v]) => !v!.includes('…'))
    .map(([, k, v]) => [k!, v!.startsWith('"') ? (JSON.parse(v!) as string) : Number(v)]);
}

function scalars(value: unknown, out: [string, unknown][] = [], key = ''): [string, unknown][] {
  if (Array.isArray(value)) value.forEach((v) => scalars(v, out, key));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) scalars(v, out, k);
  else out.push([key, value]);
  return out;
}

/**
 * How far a number may be from the README's (which rounds it). OCR confidences included: the INT8
 * recognizer's scales are static since issue 13, so a line scores the same alone and beside other lines.
 */
const TOLERANCE = 1.5e-3;

test('the parser finds the README examples (and a wrong value would be caught)', () => {
  const found = readmeExamples(readFileSync('README.md', 'utf8'));
  assert.ok(found.length >= 14, `${found.length} examples`);
  assert.ok(found.some((e) => e.path === '/v1/image/ocr' && e.expected?.includes('quick brown fox')));
  assert.deepEqual(shownValues('{"label":"spam","scores":{"ham":0.5},"id":"…"}'), [
    ['label', 'spam'],
    ['ham', 0.5],
  ]);
});

test("every README API example answers 2xx with the values the README shows; 'lunch at noon?' is ham", async () => {
  const readme = readFileSync('README.md', 'utf8');
  let jobId = '';
  for (const ex of readmeExamples(readme)) {
    const path = ex.path.replace('<id>', jobId);
    const headers: Record<string, string> = ex.contentType ? { 'content-type': ex.contentType } : {};
    const body = ex.body && ('json' in ex.body ? ex.body.json : readFileSync(ex.body.file));
    const where = `${ex.method} ${ex.path}`;
    let res = await app.call(path, { method: ex.method, headers, body });
    if (ex.method === 'DELETE') {
      // the README says: a queued job is cancelled, one already running or finished is a 409
      assert.ok([200, 409].includes(res.status), `${where}: ${res.status}`);
      continue;
    }
    assert.ok(res.status >= 200 && res.status < 300, `${where}: ${res.status} ${await res.clone().text()}`);
    if (ex.path === '/v1/jobs' && ex.method === 'POST')
      jobId = ((await res.clone().json()) as { id: string }).id;
    if (path === `/v1/jobs/${jobId}`) {
      for (let i = 0; i < 100 && !/"succeeded"/.test(await res.clone().text()); i++) {
        await sleep(100);
        res = await app.call(path);
      }
    }
    if (!ex.expected) continue;
    const actual = scalars(JSON.parse(await res.text()));
    for (const [key, value] of shownValues(ex.expected)) {
      const match = actual.some(
        ([k, v]) =>
          k === key &&
          (typeof value === 'number'
            ? typeof v === 'number' && Math.abs(v - value) < TOLERANCE
            : v === value),
      );
      assert.ok(
        match,
        `${where}: README shows "${key}": ${value}; the service answers ${JSON.stringify(actual)}`,
      );
    }
  }

  const chat = /"lunch at noon\?" → (\w+) \(spam ([\d.]+)\)/.exec(readme);
  assert.ok(chat, 'the README states what "lunch at noon?" gets');
  const res = await app.call('/v1/text/classify', { method: 'POST', json: { text: 'lunch at noon?' } });
  const got = (await res.json()) as { label: string; scores: { spam: number } };
  assert.equal(chat[1], 'ham');
  assert.equal(got.label, 'ham');
  assert.ok(Math.abs(got.scores.spam - Number(chat[2])) < 1e-3, `spam ${got.scores.spam} vs ${chat[2]}`);
});
