/**
 * Secrets Manager rotation for the stack's generated credentials (the four-step protocol:
 * createSecret → setSecret → testSecret → finishSecret). How the new value reaches the service
 * depends on the secret's kind: the RDS master password (which the app never uses), the app's own
 * database login (`rds-app-user`: alternating users, see ./postgres-users.ts, so the logins running
 * instances hold stay valid), the ElastiCache AUTH token (ROTATE keeps the old one valid), or
 * `instance` (co-located services and the bootstrap key take it at boot).
 */
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type {
  DescribeSecretCommandOutput,
  GetRandomPasswordCommandOutput,
  GetSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { ModifyReplicationGroupCommand } from '@aws-sdk/client-elasticache';
import { ensureAppRoles, loginPair, otherLogin, setLoginPassword } from './postgres-users.ts';
import type { SqlClient } from './postgres-users.ts';
import type { CommandClient } from './sdk.ts';

export type RotationKind = 'rds' | 'rds-app-user' | 'elasticache' | 'instance';

/** The value of an `rds-app-user` secret: AWS's documented shape for an RDS Postgres login. */
export interface DbUserSecret {
  engine: 'postgres';
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
  /** ARN of the master secret, whose login creates the users and sets their passwords. */
  masterarn: string;
}

/** A database login (the app user's, or the master's). */
export type DbLogin = Pick<DbUserSecret, 'host' | 'port' | 'dbname' | 'username' | 'password'>;

/** An open database session of the rotation function. */
export type DbSession = SqlClient & { end(): Promise<void> };
export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

export interface RotationEvent {
  SecretId: string;
  ClientRequestToken: string;
  Step: RotationStep;
}

export interface RotationConfig {
  /** Rotation kind by secret name; a secret not listed is `instance`. */
  kinds: Record<string, RotationKind>;
  dbInstanceId?: string;
  replicationGroupId?: string;
  /** Master user of the RDS instance (its secret holds only the password, or AWS's JSON shape). */
  dbMasterUser?: string;
  /** Group role that owns the app's objects; both app logins are its members. */
  dbAppGroup?: string;
  /** Length of new values (alphanumeric: they are spliced into URLs). */
  passwordLength: number;
}

export interface RotationClients {
  secrets: CommandClient;
  rds: CommandClient;
  elasticache: CommandClient;
  /** Opens a session as `login` (TLS verified against the RDS CA); needed by `rds-app-user` only. */
  postgres?(login: DbLogin): Promise<DbSession>;
}

/** The function's configuration from its environment (set by SecretRotator). */
export function rotationConfig(env: Record<string, string | undefined>): RotationConfig {
  return {
    kinds: JSON.parse(env.SECRET_KINDS || '{}') as Record<string, RotationKind>,
    dbInstanceId: env.DB_INSTANCE_ID || undefined,
    replicationGroupId: env.REPLICATION_GROUP_ID || undefined,
    dbMasterUser: env.DB_MASTER_USER || undefined,
    dbAppGroup: env.DB_APP_GROUP || undefined,
    passwordLength: Number(env.PASSWORD_LENGTH || '40'),
  };
}

function isNotFound(e: unknown): boolean {
  return (e as { name?: string } | undefined)?.name === 'ResourceNotFoundException';
}

async function secretString(
  c: RotationClients,
  input: { SecretId: string; VersionId?: string; VersionStage: string },
): Promise<string> {
  const r = (await c.secrets.send(new GetSecretValueCommand(input))) as GetSecretValueCommandOutput;
  if (r.SecretString === undefined)
    throw new Error(`the ${input.VersionStage} version of ${input.SecretId} has no string`);
  return r.SecretString;
}

function pendingValue(c: RotationClients, e: RotationEvent): Promise<string> {
  return secretString(c, {
    SecretId: e.SecretId,
    VersionId: e.ClientRequestToken,
    VersionStage: 'AWSPENDING',
  });
}

/** An `rds-app-user` secret's value; an error naming what is missing otherwise. */
export function parseDbUserSecret(text: string, what: string): DbUserSecret {
  let v: Partial<DbUserSecret>;
  try {
    v = JSON.parse(text) as Partial<DbUserSecret>;
  } catch {
    throw new Error(`${what} is not JSON`);
  }
  for (const k of ['host', 'port', 'dbname', 'username', 'password', 'masterarn'] as const)
    if (v[k] === undefined || v[k] === '') throw new Error(`${what} has no ${k}`);
  return v as DbUserSecret;
}

/** The master password from its secret: the plain value, or the `password` of AWS's JSON shape. */
export function masterPassword(text: string): string {
  if (!text.startsWith('{')) return text;
  const p = (JSON.parse(text) as { password?: unknown }).password;
  if (typeof p !== 'string') throw new Error('the master secret has no password');
  return p;
}

async function withDb<T>(c: RotationClients, login: DbLogin, use: (db: DbSession) => Promise<T>): Promise<T> {
  if (!c.postgres) throw new Error('the rotation function has no Postgres client');
  const db = await c.postgres(login);
  try {
    return await use(db);
  } finally {
    await db.end();
  }
}

function currentValue(c: RotationClients, e: RotationEvent): Promise<string> {
  return secretString(c, { SecretId: e.SecretId, VersionStage: 'AWSCURRENT' });
}

/** The next value: a new password, and for an app user the other login of the pair. */
async function nextValue(c: RotationClients, e: RotationEvent, kind: RotationKind, password: string) {
  if (kind !== 'rds-app-user') return password;
  const current = parseDbUserSecret(await currentValue(c, e), `the current value of ${e.SecretId}`);
  return JSON.stringify({ ...current, username: otherLogin(current.username), password });
}

/**
 * Sets the pending login's password as the master, creating the roles first where missing (the
 * first rotation after the stack is created; the current login then gets the current password).
 */
async function setAppUser(c: RotationClients, e: RotationEvent, cfg: RotationConfig) {
  if (!cfg.dbMasterUser || !cfg.dbAppGroup)
    throw new Error('DB_MASTER_USER and DB_APP_GROUP must be set for an rds-app-user secret');
  const pending = parseDbUserSecret(await pendingValue(c, e), `the pending value of ${e.SecretId}`);
  const current = parseDbUserSecret(await currentValue(c, e), `the current value of ${e.SecretId}`);
  const master = masterPassword(
    await secretString(c, { SecretId: current.masterarn, VersionStage: 'AWSCURRENT' }),
  );
  await withDb(c, { ...current, username: cfg.dbMasterUser, password: master }, async (db) => {
    const roles = { group: cfg.dbAppGroup!, logins: loginPair(current.username), database: current.dbname };
    const created = await ensureAppRoles(db, roles);
    if (created.includes(current.username)) await setLoginPassword(db, current.username, current.password);
    await setLoginPassword(db, pending.username, pending.password);
  });
}

/** The pending login works: log in with it (an app user; the other kinds apply asynchronously). */
async function testSecret(c: RotationClients, e: RotationEvent, kind: RotationKind) {
  if (kind !== 'rds-app-user') return;
  const pending = parseDbUserSecret(await pendingValue(c, e), `the pending value of ${e.SecretId}`);
  await withDb(c, pending, (db) => db.query('SELECT 1'));
}

async function createSecret(c: RotationClients, e: RotationEvent, kind: RotationKind, cfg: RotationConfig) {
  try {
    await pendingValue(c, e);
    return; // a retried step: the pending value already exists
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const r = (await c.secrets.send(
    new GetRandomPasswordCommand({ PasswordLength: cfg.passwordLength, ExcludePunctuation: true }),
  )) as GetRandomPasswordCommandOutput;
  await c.secrets.send(
    new PutSecretValueCommand({
      SecretId: e.SecretId,
      ClientRequestToken: e.ClientRequestToken,
      SecretString: await nextValue(c, e, kind, r.RandomPassword!),
      VersionStages: ['AWSPENDING'],
    }),
  );
}

async function setSecret(c: RotationClients, e: RotationEvent, kind: RotationKind, cfg: RotationConfig) {
  if (kind === 'instance') return;
  if (kind === 'rds-app-user') return setAppUser(c, e, cfg);
  const value = await pendingValue(c, e);
  if (kind === 'rds') {
    if (!cfg.dbInstanceId) throw new Error('DB_INSTANCE_ID is not set for an rds secret');
    await c.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: cfg.dbInstanceId,
        MasterUserPassword: value,
        ApplyImmediately: true,
      }),
    );
    return;
  }
  if (!cfg.replicationGroupId) throw new Error('REPLICATION_GROUP_ID is not set for an elasticache secret');
  // ROTATE keeps the old token valid too, so running instances stay connected until they restart.
  await c.elasticache.send(
    new ModifyReplicationGroupCommand({
      ReplicationGroupId: cfg.replicationGroupId,
      AuthToken: value,
      AuthTokenUpdateStrategy: 'ROTATE',
      ApplyImmediately: true,
    }),
  );
}

async function finishSecret(c: RotationClients, e: RotationEvent, meta: DescribeSecretCommandOutput) {
  const current = Object.entries(meta.VersionIdsToStages ?? {}).find(([, s]) => s.includes('AWSCURRENT'));
  await c.secrets.send(
    new UpdateSecretVersionStageCommand({
      SecretId: e.SecretId,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: e.ClientRequestToken,
      RemoveFromVersionId: current?.[0],
    }),
  );
}

/** One rotation step. Idempotent: Secrets Manager retries steps. */
export async function rotate(
  event: RotationEvent,
  clients: RotationClients,
  cfg: RotationConfig,
): Promise<void> {
  const meta = (await clients.secrets.send(
    new DescribeSecretCommand({ SecretId: event.SecretId }),
  )) as DescribeSecretCommandOutput;
  const stages = meta.VersionIdsToStages?.[event.ClientRequestToken];
  if (!meta.RotationEnabled || !stages)
    throw new Error(
      `rotation is not enabled or version ${event.ClientRequestToken} is unknown for ${event.SecretId}`,
    );
  if (stages.includes('AWSCURRENT')) return; // already finished
  if (!stages.includes('AWSPENDING'))
    throw new Error(`version ${event.ClientRequestToken} of ${event.SecretId} is not pending`);
  const kind = cfg.kinds[meta.Name ?? ''] ?? 'instance';
  switch (event.Step) {
    case 'createSecret':
      return createSecret(clients, event, kind, cfg);
    case 'setSecret':
      return setSecret(clients, event, kind, cfg);
    case 'testSecret':
      return testSecret(clients, event, kind);
    case 'finishSecret':
      return finishSecret(clients, event, meta);
    default:
      throw new Error(`unknown rotation step ${String(event.Step)}`);
  }
}
