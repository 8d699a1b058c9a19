/** Lambda entry of the rotation function: real SDK clients (the runtime ships AWS SDK v3) and `pg`. */
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { rotate, rotationConfig } from './secret-rotation.ts';
import type { DbLogin, RotationEvent } from './secret-rotation.ts';

const clients = {
  secrets: new SecretsManagerClient({}),
  rds: new RDSClient({}),
  elasticache: new ElastiCacheClient({}),
  // RDS forces SSL; the certificate is verified against the instance's CA (DB_CA_PEM), host name included.
  async postgres(login: DbLogin) {
    const client = new pg.Client({
      host: login.host,
      port: Number(login.port),
      database: login.dbname,
      user: login.username,
      password: login.password,
      ssl: { ca: process.env.DB_CA_PEM, rejectUnauthorized: true },
      connectionTimeoutMillis: 10_000,
    });
    await client.connect();
    return client;
  },
};
const config = rotationConfig(process.env);

export const handler = (event: RotationEvent) => rotate(event, clients, config);
