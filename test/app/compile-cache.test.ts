/** compile-cache.ts: the server bundle's compiled code is cached across starts, and a cache that does not fit is ignored. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { cacheDir, cacheFileName, untrustedDirReason, usableCacheDir } from '../../app/src/compile-cache.ts';

const hasNodeCache =
  typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe('compile cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-cc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the cache file is named by bundle file, size, mtime, Node version, architecture and Node flags', () => {
    const k = { file: '/a/server.cjs', size: 10, mtimeMs: 1, node: 'v20.20.2', arch: 'x64', execArgv: [] };
    const name = cacheFileName(k);
    assert.match(name, /^clawstack-[0-9a-f]{8}-[0-9a-f]{16}\.v8cache$/);
    assert.equal(cacheFileName({ ...k }), name);
    for (const change of [
      { file: '/b/server.cjs' },
      { size: 11 },
      { mtimeMs: 2 },
      { node: 'v20.20.3' },
      { arch: 'arm64' },
      { execArgv: ['--cpu-prof'] },
    ])
      assert.notEqual(cacheFileName({ ...k, ...change }), name, JSON.stringify(change));
  });

  test('NODE_COMPILE_CACHE names the directory; "off" (or CLAWSTACK_COMPILE_CACHE=off) turns caching off', () => {
    assert.equal(cacheDir({ NODE_COMPILE_CACHE: '/x' }), '/x');
    assert.equal(cacheDir({}), join(tmpdir(), 'node-compile-cache'));
    assert.equal(cacheDir({ NODE_COMPILE_CACHE: 'off' }), undefined);
    assert.equal(cacheDir({ CLAWSTACK_COMPILE_CACHE: 'off' }), undefined);
  });

  /** runCached in a new process, as at a start (V8 also caches compiled scripts in memory, per process). */
  const startOnce = (file: string, env: Record<string, string>) => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import { runCached } from ${JSON.stringify(resolve('app/src/compile-cache.ts'))}; process.stdout.write(runCached(${JSON.stringify(file)}))`,
      ],
      { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  test('runs a CommonJS file as Node would (require, module, __filename, strict mode), from V8 code cache on the next start; a new build replaces the old cache', async () => {
    const file = join(dir, 'bundle.cjs');
    const out = join(dir, 'out.json');
    writeFileSync(
      file,
      `'use strict';
const { writeFileSync } = require('node:fs');
module.exports = 1;
const { sep } = require('node:path');
writeFileSync(${JSON.stringify(out)}, JSON.stringify({ file: __filename, sep, strict: (function () { return this; })() === undefined }));
`,
    );
    const cache = join(dir, 'cache');
    const env = { NODE_COMPILE_CACHE: cache };
    assert.equal(startOnce(file, env), hasNodeCache ? 'node' : 'miss');
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { file, sep: '/', strict: true });
    if (hasNodeCache) return; // Node's own cache from here on; its behaviour is Node's
    const written = readdirSync(cache).filter((f) => f.endsWith('.v8cache'));
    assert.equal(written.length, 1, 'the cache is written after the first run');
    rmSync(out);
    assert.equal(startOnce(file, env), 'hit');
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).file, file, 'and ran from its cache');
    // A cache V8 refuses (corrupted here; another V8 alike) is ignored and written again.
    writeFileSync(join(cache, written[0]!), Buffer.alloc(4096, 7));
    assert.equal(startOnce(file, env), 'rejected');
    assert.equal(startOnce(file, env), 'hit');
    assert.equal(startOnce(file, { NODE_COMPILE_CACHE: 'off' }), 'off');
    // A new build of the bundle: its cache replaces the old build's (no pile of stale caches).
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n// rebuilt\n`);
    assert.equal(startOnce(file, env), 'miss');
    const now = readdirSync(cache).filter((f) => f.endsWith('.v8cache'));
    assert.equal(now.length, 1);
    assert.notEqual(now[0], written[0]);
    assert.equal(startOnce(file, env), 'hit');
  });

  test("a cache directory that is not this user's alone is not used: another owner, writable by others, a symbolic link", () => {
    const mine = { isDirectory: true, isSymbolicLink: false, uid: 1000, mode: 0o40700 };
    assert.equal(untrustedDirReason(mine, 1000), undefined);
    assert.equal(
      untrustedDirReason({ ...mine, mode: 0o40755 }, 1000),
      undefined,
      'readable by others is fine',
    );
    assert.match(
      untrustedDirReason({ ...mine, uid: 1001 }, 1000)!,
      /belongs to uid 1001, not this process's uid 1000/,
    );
    assert.match(untrustedDirReason({ ...mine, mode: 0o41777 }, 1000)!, /writable by others \(mode 777\)/);
    assert.match(untrustedDirReason({ ...mine, mode: 0o40720 }, 1000)!, /writable by others/);
    assert.match(untrustedDirReason({ ...mine, isSymbolicLink: true }, 1000)!, /symbolic link/);
    assert.match(untrustedDirReason({ ...mine, isDirectory: false }, 1000)!, /not a directory/);

    // On disk: a fresh directory is created 0700 and used; a world-writable one is refused.
    const fresh = join(dir, 'fresh-cache');
    assert.deepEqual(usableCacheDir({ NODE_COMPILE_CACHE: fresh }), { dir: fresh });
    const shared = join(dir, 'shared-cache');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    assert.match(
      usableCacheDir({ NODE_COMPILE_CACHE: shared }).untrusted!,
      /writable by others \(mode 777\)/,
    );
    const link = join(dir, 'link-cache');
    symlinkSync(fresh, link);
    assert.match(usableCacheDir({ NODE_COMPILE_CACHE: link }).untrusted!, /symbolic link/);

    // A start with the shared directory runs the bundle without reading or writing a cache there.
    const file = join(dir, 'bundle-untrusted.cjs');
    const out = join(dir, 'out-untrusted.txt');
    writeFileSync(file, `require('node:fs').writeFileSync(${JSON.stringify(out)}, 'ran');\n`);
    assert.equal(startOnce(file, { NODE_COMPILE_CACHE: shared }), 'untrusted');
    assert.equal(readFileSync(out, 'utf8'), 'ran');
    assert.deepEqual(readdirSync(shared), [], 'nothing written to the shared directory');
    assert.ok(existsSync(fresh));
  });
});
