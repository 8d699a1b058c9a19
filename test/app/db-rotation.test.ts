/**
 * Database password rotation against a real Postgres (password logins, scram): the rotation
 * function's steps (alternating users, AWS's multi-user strategy) run against it with an in-memory
 * Secrets Manager, and a serving app whose credentials file (DATABASE_URL_FILE) the host rewrites
 * keeps its pooled connections, recovers new ones without a restart, and answers 503 with
 * Retry-After (never 500) while its file still holds a password that no longer works.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { rotate, rotationConfig } from '../../infra/targets/aws/lambdas/secret-rotation.ts';
import type { DbLogin, DbUserSecret } from '../../infra/targets/aws/lambdas/secret-rotation.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clawstack-dev/db-app';
const MASTER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clawstack-dev/db-password';
const GROUP = 'clawstack_app';
const LOGINS = ['clawstack_app_user', 'clawstack_app_user_clone'];

/**
 * Secrets Manager in memory: versions with stages, answering the commands the rotation sends the
 * way the service does (a missing AWSPENDING is ResourceNotFoundException).
 */
function memorySecrets(initial: Record<string, string>) {
  const versions = new Map<string, Map<string, { value?: string; stages: string[] }>>();
  for (const [arn, value] of Object.entries(initial))
    versions.set(arn, new Map([['v0', { value, stages: ['AWSCURRENT'] }]]));
  let n = 0;
  const of = (id: unknown) => versions.get(String(id))!;
  const send = async (command: object) => {
    const i = (command as { input: Record<string, string> }).input;
    if (command instanceof DescribeSecretCommand)
      return {
        Name: 'clawstack-dev/db-app',
        RotationEnabled: true,
        VersionIdsToStages: Object.fromEntries([...of(i.SecretId)].map(([id, v]) => [id, v.stages])),
      };
    if (command instanceof GetSecretValueCommand) {
      const found = [...of(i.SecretId)].find(
        ([id, v]) =>
          (!i.VersionId || id === i.VersionId) &&
          v.stages.includes(i.VersionStage ?? 'AWSCURRENT') &&
          v.value !== undefined,
      );
      if (!found) throw Object.assign(new Error('no such version'), { name: 'ResourceNotFoundException' });
      return { SecretString: found[1].value };
    }
    if (command instanceof GetRandomPasswordCommand)
      return { RandomPassword: `Rotated${++n}Abc${Date.now()}` };
    if (command instanceof PutSecretValueCommand) {
      of(i.SecretId).set(i.ClientRequestToken!, { value: i.SecretString!, stages: ['AWSPENDING'] });
      return {};
    }
    if (command instanceof UpdateSecretVersionStageCommand) {
      for (const [id, v] of of(i.SecretId)) {
        if (id === i.RemoveFromVersionId) v.stages = v.stages.filter((s) => s !== 'AWSCURRENT');
        if (id === i.MoveToVersionId) v.stages = ['AWSCURRENT'];
      }
      return {};
    }
    throw new Error(`unexpected command ${command.constructor.name}`);
  };
  const current = (arn: string) => [...of(arn).values()].find((v) => v.stages.includes('AWSCURRENT'))!.value!;
  /** What RotateSecret does before it invokes the function: a version labelled AWSPENDING, no value yet. */
  const start = (arn: string, token: string) => of(arn).set(token, { stages: ['AWSPENDING'] });
  return { send, current, start };
}

let services: TestServices;
let admin: pg.Client;
let database: string;
let secrets: ReturnType<typeof memorySecrets>;
const dir = mkdtempSync(join(tmpdir(), 'clawstack-rotation-'));
const urlFile = join(dir, 'database-url');

const loginUrl = (s: DbLogin) => `postgres://${s.username}:${s.password}@${s.host}:${s.port}/${s.dbname}`;
const clients = {
  secrets: { send: (c: object) => secrets.send(c) },
  rds: { send: async () => ({}) },
  elasticache: { send: async () => ({}) },
  async postgres(login: DbLogin) {
    const c = new pg.Client({ connectionString: loginUrl(login) });
    await c.connect();
    return c;
  },
};
const config = rotationConfig({
  SECRET_KINDS: JSON.stringify({ 'clawstack-dev/db-app': 'rds-app-user' }),
  DB_MASTER_USER: 'clawstack',
  DB_APP_GROUP: GROUP,
});

/** One whole rotation, the four steps in the order Secrets Manager invokes them (each `times`). */
async function rotateOnce(token: string, times = 1) {
  secrets.start(APP_SECRET, token);
  for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const)
    for (let i = 0; i < times; i++)
      await rotate({ SecretId: APP_SECRET, ClientRequestToken: token, Step }, clients, config);
}
const currentLogin = () => JSON.parse(secrets.current(APP_SECRET)) as DbUserSecret;

/** What the host's timer does: the current login as a URL, written atomically. */
function writeUrlFile(url = loginUrl(currentLogin())) {
  writeFileSync(`${urlFile}.tmp`, `${url}\n`);
  renameSync(`${urlFile}.tmp`, urlFile);
}

async function canLogin(username: string, password: string): Promise<string> {
  const c = new pg.Client({ connectionString: loginUrl({ ...currentLogin(), username, password }) });
  try {
    await c.connect();
    await c.end();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** Password logins for the app's roles on loopback (the harness cluster trusts everyone else). */
async function requirePasswords() {
  const hba = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]!.hba_file;
  const text = (await admin.query<{ t: string }>('SELECT pg_read_file($1) AS t', [hba])).rows[0]!.t;
  const lines = [`host all ${LOGINS.join(',')} 127.0.0.1/32 scram-sha-256`, ...text.split('\n')];
  const literal = admin.escapeLiteral(`{${lines.map((l) => JSON.stringify(l)).join(',')}}`);
  await admin.query(`COPY (SELECT unnest(${literal}::text[])) TO ${admin.escapeLiteral(hba)}`);
  await admin.query('SELECT pg_reload_conf()');
}

before(async () => {
  services = await startTestServices();
  const url = await services.database();
  database = new URL(url).pathname.slice(1);
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await requirePasswords();
  const port = Number(new URL(url).port);
  const initial: DbUserSecret = {
    engine: 'postgres',
    host: '127.0.0.1',
    port,
    dbname: database,
    username: LOGINS[0]!,
    password: 'InitialPassword0',
    masterarn: MASTER_SECRET,
  };
  // The master's login is trusted on this cluster; its secret holds a plain password as on AWS.
  secrets = memorySecrets({ [APP_SECRET]: JSON.stringify(initial), [MASTER_SECRET]: 'MasterPassword0' });
});
after(async () => {
  await admin?.end();
  await services?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('alternating-users rotation (the function against a real Postgres)', () => {
  test('the first rotation creates the group and both logins; the current login keeps its password', async () => {
    await rotateOnce('r1');
    const roles = await admin.query<{ rolname: string; rolcanlogin: boolean }>(
      'SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname',
      [[GROUP, ...LOGINS]],
    );
    assert.deepEqual(
      roles.rows.map((r) => [r.rolname, r.rolcanlogin]),
      [
        [GROUP, false],
        [LOGINS[0], true],
        [LOGINS[1], true],
      ],
    );
    const now = currentLogin();
    assert.equal(now.username, LOGINS[1], 'the secret now names the clone');
    assert.equal(await canLogin(LOGINS[0]!, 'InitialPassword0'), 'ok', 'the previous login still works');
    assert.equal(await canLogin(now.username, now.password), 'ok');
    assert.equal(await canLogin(now.username, 'wrong'), '28P01');
  });

  test('the next rotation changes only the login not in use, and flips back to it', async () => {
    const before = currentLogin();
    await rotateOnce('r2');
    const now = currentLogin();
    assert.equal(now.username, LOGINS[0]);
    assert.notEqual(now.password, 'InitialPassword0');
    assert.equal(await canLogin(LOGINS[0]!, 'InitialPassword0'), '28P01', 'its old password is gone');
    assert.equal(await canLogin(now.username, now.password), 'ok');
    assert.equal(await canLogin(before.username, before.password), 'ok', 'the clone is untouched');
  });

  test('every step run twice (Secrets Manager retries steps) gives the same result as once', async () => {
    const before = currentLogin();
    await rotateOnce('r2b', 2);
    const now = currentLogin();
    assert.equal(now.username, LOGINS[1]);
    assert.equal(await canLogin(now.username, now.password), 'ok');
    assert.equal(await canLogin(before.username, before.password), 'ok');
  });
});

describe('a serving app through rotations (DATABASE_URL_FILE)', () => {
  let app: TestApp;
  const appBackends = async () =>
    (
      await admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE usename = ANY($1) AND datname = $2 ORDER BY pid',
        [LOGINS, database],
      )
    ).rows.map((r) => r.pid);
  /** Closes the app's connections, as idle timeouts and failovers do: the next ones log in anew. */
  const dropConnections = async () => {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)', [
      LOGINS,
    ]);
    // The pool drops a terminated idle client when its socket reports the end; wait for that.
    for (let i = 0; i < 100 && app.service.db.totalCount > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(app.service.db.totalCount, 0, 'the pool let go of the closed connections');
  };
  const listJobs = () => app.call('/v1/jobs?limit=1');

  before(async () => {
    writeUrlFile();
    app = await startTestApp(
      services,
      { DATABASE_URL_FILE: urlFile, AUTH_CACHE_MS: '0' },
      { databaseUrl: loginUrl(currentLogin()) },
    );
  });
  after(() => app?.close());

  test('the app runs its migrations as the group, so either login can use and alter its tables', async () => {
    const owners = await admin.query<{ owner: string }>(
      "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname IN ('jobs', 'api_keys')",
    );
    assert.deepEqual(
      owners.rows.map((r) => r.owner),
      [GROUP],
    );
    assert.equal((await listJobs()).status, 200);
  });

  test('a rotation while serving: pooled connections keep working and new ones log in after the file changes', async () => {
    assert.equal((await listJobs()).status, 200);
    const pooled = await appBackends();
    assert.ok(pooled.length > 0);
    await rotateOnce('r3'); // the login the app is not using gets a new password; the secret flips to it
    writeUrlFile(); // the host's timer
    for (let i = 0; i < 5; i++) assert.equal((await listJobs()).status, 200);
    await rotateOnce('r4'); // now the login the app's connections use gets a new password
    for (let i = 0; i < 5; i++) assert.equal((await listJobs()).status, 200);
    assert.deepEqual(await appBackends(), pooled, 'the same connections served, none was refused');
    await dropConnections();
    const res = await listJobs();
    assert.equal(res.status, 200, await res.text());
    assert.ok(
      app.logs.some((l) => String(l.msg).startsWith('postgres refused the login')),
      'the re-read is logged',
    );
  });

  test('while the file still holds a dead password: 503 with Retry-After, then recovery without a restart', async () => {
    writeUrlFile(); // the login of r4
    await rotateOnce('r5');
    await rotateOnce('r6'); // both logins have new passwords; the file names neither
    await dropConnections();
    for (let i = 0; i < 5; i++) {
      const res = await listJobs();
      const body = await res.text();
      assert.equal(res.status, 503, body);
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After is set');
      assert.match((JSON.parse(body) as { error: string }).error, /retry later/);
    }
    writeUrlFile();
    let last = 0;
    for (let i = 0; i < 50 && last !== 200; i++) {
      last = (await listJobs()).status;
      if (last !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(last, 200, 'recovered once the file holds the current login');
    assert.ok(!app.logs.some((l) => l.level === 50 && l.msg === 'request failed'), 'no 500 was logged');
  });
});
