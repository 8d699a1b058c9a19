/**
 * Logs: one readable line per event when a person watches (stdout is a terminal, or LOG_PRETTY=true),
 * one JSON object per line otherwise; keys never appear in either.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { after, before, test } from 'node:test';
import { createLogger, prettyMessage, wantsPrettyLogs } from '../../app/src/telemetry/logger.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

function sink() {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      cb();
    },
  });
  return { stream, lines };
}

test('pretty when LOG_PRETTY says so, otherwise exactly when stdout is a terminal', () => {
  assert.equal(wantsPrettyLogs(undefined, true), true);
  assert.equal(wantsPrettyLogs(undefined, false), false);
  assert.equal(wantsPrettyLogs(undefined, undefined), false);
  assert.equal(wantsPrettyLogs(false, true), false);
  assert.equal(wantsPrettyLogs(true, false), true);
});

test('JSON mode: one parseable object per event, with level, time, service and the fields', () => {
  const { stream, lines } = sink();
  const log = createLogger('info', false, stream);
  log.info({ url: 'http://127.0.0.1:1' }, 'clawstack is ready');
  log.warn({ headers: { authorization: 'Bearer cs_secret' } }, 'odd request');
  assert.equal(lines.length, 2);
  const [ready, odd] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(ready!.msg, 'clawstack is ready');
  assert.equal(ready!.level, 30);
  assert.equal(ready!.service, 'clawstack');
  assert.equal(typeof ready!.time, 'number');
  assert.equal(ready!.url, 'http://127.0.0.1:1');
  assert.deepEqual(odd!.headers, { authorization: '[redacted]' });
});

test('pretty mode: one line per event with time, level, message and fields; no colour codes into a non-terminal', () => {
  const { stream, lines } = sink();
  const log = createLogger('info', true, stream);
  log.info({ url: 'http://127.0.0.1:1', nested: { a: [1, 2] } }, 'clawstack is ready');
  log.error({ err: new Error('boom\nsecond line') }, 'request failed');
  log.warn({ headers: { authorization: 'Bearer cs_secret' } }, 'odd request');
  log.debug('not shown at info');
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.match(
    lines[0]!,
    /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: clawstack is ready \{.*"url":"http:\/\/127\.0\.0\.1:1"/,
  );
  assert.match(
    lines[1]!,
    /^\[[\d:.]+\] ERROR: request failed \(Error: boom second line at .*logging\.test\.ts:\d+:\d+\)/,
  );
  assert.match(lines[2]!, /WARN: odd request .*\[redacted\]/);
  assert.doesNotMatch(lines.join('\n'), /cs_secret/);
  assert.equal(stripVTControlCharacters(lines.join('\n')), lines.join('\n'));
});

test("pretty mode: pino-http's request entries read as method, url, status and time", () => {
  const entry = {
    msg: 'request completed',
    req: { id: 'r1', method: 'POST', url: '/v1/jobs' },
    res: { statusCode: 202 },
    responseTime: 3.4,
  };
  assert.equal(prettyMessage(entry, 'msg'), 'POST /v1/jobs 202 3 ms');
  assert.equal(prettyMessage({ msg: 'started local Redis' }, 'msg'), 'started local Redis');
  const { stream, lines } = sink();
  createLogger('info', true, stream).info(entry, entry.msg);
  assert.match(lines[0]!, /INFO: POST \/v1\/jobs 202 3 ms$/);
});

let services: TestServices;
before(async () => {
  services = await startTestServices();
});
after(async () => {
  await services?.stop();
});

/** Runs app/src/main.ts until it says it is ready, stdout on a pseudo-terminal (`script`) or a pipe. */
async function startOutput(tty: boolean): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    LOG_LEVEL: 'info',
    MODELS: 'text-spam',
    REDIS_URL: services.redisUrl,
    DATABASE_URL: await services.database(),
  };
  delete env.LOG_PRETTY;
  const cmd = `${process.execPath} --import tsx app/src/main.ts`;
  const child = tty
    ? spawn('script', ['-qfec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', 'tsx', 'app/src/main.ts'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`app did not start:\n${out}`)), 30_000);
      child.stdout!.on('data', () => {
        if (/clawstack is ready/.test(out)) {
          clearTimeout(t);
          res();
        }
      });
      void exited.then(() => rej(new Error(`app exited:\n${out}`)));
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return out;
}

test('npm start on a terminal prints readable lines; piped, it prints JSON', async () => {
  const strip = (s: string) => stripVTControlCharacters(s).replace(/\r/g, '');
  const tty = strip(await startOutput(true))
    .split('\n')
    .filter(Boolean);
  const ready = tty.find((l) => l.includes('clawstack is ready'));
  assert.match(ready ?? '', /^\[[\d:.]+\] INFO: clawstack is ready \{.*"url":"http:\/\/127\.0\.0\.1:\d+"/);
  assert.ok(!tty.some((l) => l.startsWith('{"level"')), tty.join('\n'));
  // At info, start-up is one short summary line; the whole timeline is at debug.
  const summary = tty.find((l) => l.includes('start-up: ready after'));
  assert.match(summary ?? '', /INFO: start-up: ready after \d+ ms .*"phases":".*models \d+–\d+/);
  assert.ok(summary!.length < 600, `summary line is short (${summary!.length} chars)`);
  assert.ok(!tty.some((l) => l.includes('start-up timeline')), 'the full timeline is not at info');

  const piped = (await startOutput(false)).split('\n').filter(Boolean);
  assert.ok(piped.length > 0);
  for (const line of piped) {
    const entry = JSON.parse(line) as { level: number; msg: string };
    assert.equal(typeof entry.level, 'number');
  }
  assert.ok(piped.some((l) => (JSON.parse(l) as { msg: string }).msg === 'clawstack is ready'));
});
