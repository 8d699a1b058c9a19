/** The env contract: defaults, errors naming the variable, and the builder the infra program uses. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { appEnvironment, ConfigError, loadConfig } from '../../app/src/config.ts';

test('defaults: role all, cpu, int8, local data dir', () => {
  const c = loadConfig({});
  assert.equal(c.CLAWSTACK_ROLE, 'all');
  assert.equal(c.EXECUTION_PROVIDER, 'cpu');
  assert.equal(c.MODEL_PRECISION, 'int8');
  assert.equal(c.CLAWSTACK_DATA_DIR, '.clawstack');
  assert.deepEqual(c.MODELS, []);
});

test('values are coerced and validated', () => {
  const c = loadConfig({ PORT: '9000', MODELS: 'a, b', LOG_PRETTY: 'yes', MAX_BATCH_DELAY_MS: '0.5' });
  assert.equal(c.PORT, 9000);
  assert.deepEqual(c.MODELS, ['a', 'b']);
  assert.equal(c.LOG_PRETTY, true);
  assert.equal(c.MAX_BATCH_DELAY_MS, 0.5);
});

for (const [name, value, message] of [
  ['CLAWSTACK_ROLE', 'boss', /CLAWSTACK_ROLE="boss".*api.*worker.*all/],
  ['PORT', 'eighty', /PORT="eighty"/],
  ['PORT', '70000', /PORT="70000"/],
  ['REDIS_URL', 'http://x', /REDIS_URL="http:\/\/x"/],
  ['DATABASE_URL', 'mysql://x/y', /DATABASE_URL/],
  ['EXECUTION_PROVIDER', 'tpu', /EXECUTION_PROVIDER="tpu".*cpu.*cuda/],
  ['MAX_BATCH_SIZE', '0', /MAX_BATCH_SIZE="0"/],
  ['BOOTSTRAP_API_KEY', 'short', /BOOTSTRAP_API_KEY/],
] as const) {
  test(`${name}=${value} is refused with a message naming the variable`, () => {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (err: Error) => err instanceof ConfigError && message.test(err.message),
    );
  });
}

test('appEnvironment builds a validated env map (what infra passes to containers)', () => {
  const env = appEnvironment({
    CLAWSTACK_ROLE: 'worker',
    INFERENCE_THREADS: 4,
    MODELS: 'text-spam',
    EXECUTION_PROVIDER: 'cuda',
  });
  assert.deepEqual(env, {
    CLAWSTACK_ROLE: 'worker',
    INFERENCE_THREADS: '4',
    MODELS: 'text-spam',
    EXECUTION_PROVIDER: 'cuda',
  });
  assert.throws(() => appEnvironment({ INFERENCE_THREADS: 0 }), /INFERENCE_THREADS/);
});

test('the process exits 2 with the message on a bad variable, and on a bad --role', () => {
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'app/src/main.ts'], {
    env: { ...process.env, PORT: 'eighty' },
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid environment:\n\s+PORT="eighty"/);
  const role = spawnSync(process.execPath, ['--import', 'tsx', 'app/src/main.ts', '--role', 'boss'], {
    encoding: 'utf8',
  });
  assert.equal(role.status, 2);
  assert.match(role.stderr, /--role must be one of api, worker, all; got "boss"/);
  const noUrls = spawnSync(process.execPath, ['--import', 'tsx', 'app/src/main.ts', '--role=api'], {
    env: { ...process.env, REDIS_URL: '', DATABASE_URL: '' },
    encoding: 'utf8',
  });
  assert.equal(noUrls.status, 2);
  assert.match(noUrls.stderr, /role api needs REDIS_URL and DATABASE_URL/);
});
