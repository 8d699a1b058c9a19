/**
 * The preload hint (app/src/inference/preload-hint.ts, preload.ts): the first inference thread creates
 * the last start's sessions early, and the engine takes one only when it fits; real threads and models.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { InferenceEngine } from '../../app/src/inference/engine.ts';
import { readHint, writeHint, type PreloadHint } from '../../app/src/inference/preload-hint.ts';
import { fits } from '../../app/src/inference/preload.ts';
import type { SessionSpec } from '../../app/src/inference/protocol.ts';
import { prehashed, prespawn, releasePrespawned } from '../../app/src/inference/spawn.ts';
import {
  DirectorySource,
  ModelIntegrityError,
  ModelRegistry,
  sha256File,
} from '../../app/src/models/registry.ts';
import { startupTimeline } from '../../app/src/telemetry/startup.ts';

const entry = new URL('../../app/src/inference/thread-dev.mjs', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'clawstack-preload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = pino(
  { level: 'warn' },
  new Writable({
    write: (_c, _e, cb) => cb(),
  }),
);
const options = {
  threads: 1,
  intraOpThreads: 1,
  provider: 'cpu' as const,
  maxBatchSize: 8,
  maxBatchDelayMs: 0,
  log,
};

async function startEngine(hintFile: string, preload: PreloadHint | undefined) {
  const registry = await ModelRegistry.load(new DirectorySource(resolve('models')), {
    precision: 'int8',
    only: ['text-spam'],
  });
  prespawn(entry, { file: hintFile, preload });
  return InferenceEngine.start(registry, options);
}

const sessionPhases = () => startupTimeline().filter((p) => p.name.startsWith('session text-spam'));

describe('session preload hint', () => {
  test('fits only the same path, bytes (sha256), shapes, provider and intra-op threads', () => {
    const spec = { key: 'm', path: '/m.onnx', dynamicShapes: false, entry: { sha256: 'ab' } } as SessionSpec;
    const from = {
      path: '/m.onnx',
      sha256: 'ab',
      dynamicShapes: false,
      provider: 'cpu' as const,
      intraOpThreads: 1,
    };
    assert.equal(fits(from, spec, 'cpu', 1), true);
    assert.equal(fits({ ...from, sha256: 'cd' }, spec, 'cpu', 1), false, 'file changed since the hint');
    assert.equal(fits({ ...from, path: '/other.onnx' }, spec, 'cpu', 1), false);
    assert.equal(fits({ ...from, dynamicShapes: true }, spec, 'cpu', 1), false);
    assert.equal(fits(from, spec, 'cuda', 1), false);
    assert.equal(fits(from, spec, 'cpu', 2), false);
  });

  test('a start writes the hint; the next start takes the preloaded session and answers the same', async () => {
    const file = join(dir, 'hint.json');
    const first = await startEngine(file, readHint(file));
    const text = 'WIN a FREE cruise! Click now';
    const before = await first.inferInput('text-spam', text);
    await first.close();
    const hint = readHint(file);
    assert.ok(hint, 'hint written');
    assert.deepEqual(
      hint.sessions.map((s) => s.key),
      ['text-spam'],
    );
    const second = await startEngine(file, hint);
    const again = await second.inferInput('text-spam', text);
    await second.close();
    assert.deepEqual(
      sessionPhases().map((p) => p.name),
      ['session text-spam', 'session text-spam (preloaded)'],
    );
    assert.deepEqual(again, before);
  });

  test('a hint for another file (the FP32 model, another sha256) is not taken: the session is created anew and the preloaded one released', async () => {
    const file = join(dir, 'stale.json');
    const hint = readHint(join(dir, 'hint.json'))!;
    const stale = {
      ...hint,
      sessions: hint.sessions.map((s) => ({ ...s, path: resolve('models/text-spam/1/model.onnx') })),
    };
    writeHint(file, stale);
    const count = sessionPhases().length;
    const engine = await startEngine(file, readHint(file));
    const out = await engine.inferInput('text-spam', 'lunch at noon?');
    await engine.close();
    assert.ok(Object.keys(out).length > 0);
    assert.deepEqual(
      sessionPhases()
        .slice(count)
        .map((p) => p.name),
      ['session text-spam'],
    );
  });

  test("the preloading thread hashes the hint's files for the main thread: each sha256 once, none for other or unreadable files", async () => {
    const hint = readHint(join(dir, 'hint.json'))!;
    const path = hint.sessions[0]!.path;
    const missing = join(dir, 'missing.onnx');
    const missingSpec = { ...hint.sessions[0]!, key: 'missing', path: missing };
    prespawn(entry, {
      file: join(dir, 'hashes.json'),
      preload: { ...hint, sessions: [missingSpec, ...hint.sessions] },
    });
    // The thread is unref'd (an idle one must not keep a process alive); in a server, sockets do.
    const alive = setInterval(() => {}, 1000);
    try {
      assert.equal(prehashed(resolve('models/text-spam/1/model.onnx')), undefined, 'not in the hint');
      assert.equal(await prehashed(missing), undefined, 'unreadable: the main thread hashes it itself');
      assert.equal(await prehashed(path), await sha256File(path));
      assert.equal(prehashed(path), undefined, 'given once');
    } finally {
      clearInterval(alive);
      await releasePrespawned();
    }
  });

  test('a process that ends while its first thread creates preloaded sessions exits with its own code, never SIGABRT', () => {
    // Terminating a thread while ORT creates a session aborted the process (bundle.test.ts's bad --role
    // once did); stopThread now asks the thread to close, which waits for its preloads. The moment of the
    // release is swept across the sessions' creation (OCR FP32, a few hundred ms on this machine).
    const results = [0, 100, 200, 300, 400, 500, 600, 800].map((ms) => {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'test/fixtures/preload-release.mts', join(dir, 'release-hint.json'), String(ms)],
        { encoding: 'utf8' },
      );
      return `${ms} ms: ${r.status ?? r.signal}`;
    });
    assert.deepEqual(
      results,
      results.map((r) => r.replace(/: .*/, ': 3')),
    );
  });

  test('the registry checks a known sha256 instead of hashing: a wrong one refuses the file, none hashes it', async () => {
    const manifest = JSON.parse(readFileSync(resolve('models/manifest.json'), 'utf8')) as {
      models: { name: string; precision: string; sha256: string }[];
    };
    const sha = manifest.models.find((m) => m.name === 'text-spam' && m.precision === 'int8')!.sha256;
    const load = (known: string | undefined) =>
      ModelRegistry.load(
        new DirectorySource(resolve('models'), (p) =>
          p.endsWith('model.int8.onnx') ? Promise.resolve(known) : undefined,
        ),
        { precision: 'int8', only: ['text-spam'] },
      );
    assert.equal((await load(sha)).all().length, 1);
    assert.equal((await load(undefined)).all().length, 1, 'no known hash: hashed here');
    await assert.rejects(load('0'.repeat(64)), ModelIntegrityError);
  });

  test('an unreadable hint is no hint', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{not json');
    assert.equal(readHint(file), undefined);
    writeFileSync(file, '{"sessions":1}');
    assert.equal(readHint(file), undefined);
  });
});
