/** Lambda entry of the rotation function: real SDK clients (the runtime ships AWS SDK v3). */
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { rotate, rotationConfig } from './secret-rotation.ts';
import type { RotationEvent } from './secret-rotation.ts';

const clients = {
  secrets: new SecretsManagerClient({}),
  rds: new RDSClient({}),
  elasticache: new ElastiCacheClient({}),
};
const config = rotationConfig(process.env);

export const handler = (event: RotationEvent) => rotate(event, clients, config);
