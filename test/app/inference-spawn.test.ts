/**
 * Inference threads are never terminated while they load onnxruntime-node (which can abort the whole
 * process with SIGABRT): stopThread and engine.close() wait for the load first, with real threads.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { InferenceEngine } from '../../app/src/inference/engine.ts';
import {
  prespawn,
  releasePrespawned,
  spawnThread,
  stopThread,
  takePrespawned,
} from '../../app/src/inference/spawn.ts';

// From TypeScript sources a thread loads thread.ts through tsx (engine.ts does the same).
const entry = new URL('../../app/src/inference/thread-dev.mjs', import.meta.url);

function captureLog() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

describe('inference thread start and stop', () => {
  test('stopThread on a thread still loading onnxruntime-node waits until it is loaded, then terminates it', async () => {
    const t = spawnThread(entry);
    assert.equal(t.state, 'loading');
    let exitCode: number | undefined;
    t.worker.once('exit', (code) => (exitCode = code));
    const stillLoading = await stopThread(t);
    assert.equal(stillLoading, false, 'terminated only after the load');
    assert.equal(t.state, 'ready');
    assert.equal(exitCode, 1, 'terminated (exit code 1), not ended by itself');
  });

  test('engine.close() during thread start-up (the registry failed) waits for the load and rejects with the cause', async () => {
    const { log, lines } = captureLog();
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        InferenceEngine.start(Promise.reject(new Error(`manifest unreadable ${i}`)), {
          threads: 2,
          intraOpThreads: 1,
          provider: 'cpu',
          maxBatchSize: 8,
          maxBatchDelayMs: 0,
          log,
        }),
        new RegExp(`manifest unreadable ${i}`),
      );
    }
    assert.deepEqual(
      lines.filter((l) => /still loading|thread failed/.test(l)),
      [],
      'no thread was terminated while loading, none failed',
    );
  });

  test('a thread started early is taken over once; an unclaimed one is stopped after its load', async () => {
    prespawn(entry);
    const t = takePrespawned();
    assert.ok(t);
    assert.equal(takePrespawned(), undefined, 'taken over once');
    await stopThread(t);
    prespawn(entry);
    await releasePrespawned();
    assert.equal(takePrespawned(), undefined);
    await releasePrespawned(); // nothing to release: resolves
  });
});
