/**
 * Secrets Manager rotation for the stack's generated credentials (the four-step protocol:
 * createSecret → setSecret → testSecret → finishSecret). How the new value reaches the service
 * depends on the secret's kind: the RDS master password, the ElastiCache AUTH token (ROTATE keeps
 * the old one valid), or `instance` (co-located services and the bootstrap key take it at boot).
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
import type { CommandClient } from './sdk.ts';

export type RotationKind = 'rds' | 'elasticache' | 'instance';
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
  /** Length of new values (alphanumeric: they are spliced into URLs). */
  passwordLength: number;
}

export interface RotationClients {
  secrets: CommandClient;
  rds: CommandClient;
  elasticache: CommandClient;
}

/** The function's configuration from its environment (set by SecretRotator). */
export function rotationConfig(env: Record<string, string | undefined>): RotationConfig {
  return {
    kinds: JSON.parse(env.SECRET_KINDS || '{}') as Record<string, RotationKind>,
    dbInstanceId: env.DB_INSTANCE_ID || undefined,
    replicationGroupId: env.REPLICATION_GROUP_ID || undefined,
    passwordLength: Number(env.PASSWORD_LENGTH || '40'),
  };
}

function isNotFound(e: unknown): boolean {
  return (e as { name?: string } | undefined)?.name === 'ResourceNotFoundException';
}

async function pendingValue(c: RotationClients, e: RotationEvent): Promise<string> {
  const r = (await c.secrets.send(
    new GetSecretValueCommand({
      SecretId: e.SecretId,
      VersionId: e.ClientRequestToken,
      VersionStage: 'AWSPENDING',
    }),
  )) as GetSecretValueCommandOutput;
  if (r.SecretString === undefined) throw new Error(`the pending version of ${e.SecretId} has no string`);
  return r.SecretString;
}

async function createSecret(c: RotationClients, e: RotationEvent, cfg: RotationConfig) {
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
      SecretString: r.RandomPassword,
      VersionStages: ['AWSPENDING'],
    }),
  );
}

async function setSecret(c: RotationClients, e: RotationEvent, kind: RotationKind, cfg: RotationConfig) {
  if (kind === 'instance') return;
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
      return createSecret(clients, event, cfg);
    case 'setSecret':
      return setSecret(clients, event, kind, cfg);
    case 'testSecret':
      return; // the services take the value asynchronously; nothing to log in with from here
    case 'finishSecret':
      return finishSecret(clients, event, meta);
    default:
      throw new Error(`unknown rotation step ${String(event.Step)}`);
  }
}
