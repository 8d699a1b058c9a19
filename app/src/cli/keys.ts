/**
 * API key management: `npm run keys -- create|list|revoke|rotate`.
 *
 * Talks to DATABASE_URL; without it, to the local stack's Postgres (the running `npm start`, or the
 * local cluster started for the duration of the command).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { startPostgres, type LocalService } from '../local/services.ts';
import { createPool, migrate } from '../store/db.ts';
import { ApiKeyStore, type ApiKeyInfo } from '../store/keys.ts';
import { createLogger } from '../telemetry/logger.ts';

const USAGE = `usage: npm run keys -- <command> [options]
  create --name NAME [--rate-limit N]   create a key (printed once; only its hash is stored)
  list                                  list keys (prefix, name, state)
  revoke ID|PREFIX                      revoke a key now
  rotate ID|PREFIX [--grace SECONDS]    issue a replacement; the old key stays valid for the grace
                                        period (default KEY_ROTATION_GRACE_SECONDS)
options: --json   machine-readable output`;

function state(k: ApiKeyInfo): string {
  if (k.revokedAt) return `revoked ${k.revokedAt.toISOString()}`;
  if (k.expiresAt && k.expiresAt.getTime() <= Date.now()) return `expired ${k.expiresAt.toISOString()}`;
  if (k.expiresAt) return `valid until ${k.expiresAt.toISOString()}`;
  return 'valid';
}

async function databaseUrl(
  dataDir: string,
  explicit?: string,
): Promise<{ url: string; local?: LocalService }> {
  if (explicit) return { url: explicit };
  const info = join(dataDir, 'local.json');
  if (existsSync(info)) {
    const { databaseUrl: url } = JSON.parse(readFileSync(info, 'utf8')) as { databaseUrl?: string };
    if (url) {
      const pool = createPool(url, 1);
      const alive = await pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      await pool.end();
      if (alive) return { url };
    }
  }
  const local = await startPostgres(join(dataDir, 'postgres'));
  const url = new URL(local.url);
  url.pathname = '/clawstack';
  return { url: url.toString(), local };
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'rate-limit': { type: 'string' },
      grace: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ref] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  const log = createLogger('warn');
  const { url, local } = await databaseUrl(resolve(config.CLAWSTACK_DATA_DIR), config.DATABASE_URL);
  const db = createPool(url, 2);
  const out = (human: string, json: unknown) =>
    process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${human}\n`);
  try {
    await migrate(db, log);
    const keys = new ApiKeyStore(db);
    switch (command) {
      case 'create': {
        if (!values.name) throw new ConfigError('create needs --name NAME');
        const rateLimit = values['rate-limit'] === undefined ? undefined : Number(values['rate-limit']);
        if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && rateLimit > 0)) {
          throw new ConfigError(`--rate-limit must be a positive integer; got "${values['rate-limit']}"`);
        }
        const { key, info } = await keys.create(values.name, { rateLimit });
        out(`created key ${info.id} (${info.name})\n${key}\nstore it now: it cannot be shown again`, {
          key,
          ...info,
        });
        break;
      }
      case 'list': {
        const all = await keys.list();
        out(
          all
            .map(
              (k) =>
                `${k.id}  ${k.prefix}…  ${k.name.padEnd(16)} ${state(k)}${k.rateLimit ? `  limit ${k.rateLimit}` : ''}`,
            )
            .join('\n') || 'no keys',
          all,
        );
        break;
      }
      case 'revoke': {
        if (!ref) throw new ConfigError('revoke needs a key id or prefix');
        const info = await keys.revoke(ref);
        out(`revoked ${info.id} (${info.prefix}…, ${info.name})`, info);
        break;
      }
      case 'rotate': {
        if (!ref) throw new ConfigError('rotate needs a key id or prefix');
        const grace = values.grace === undefined ? config.KEY_ROTATION_GRACE_SECONDS : Number(values.grace);
        if (!(Number.isInteger(grace) && grace >= 0))
          throw new ConfigError(`--grace must be whole seconds ≥ 0; got "${values.grace}"`);
        const { key, info, oldExpiresAt } = await keys.rotate(ref, grace);
        out(
          `new key ${info.id} (${info.name})\n${key}\nthe old key stays valid until ${oldExpiresAt.toISOString()}`,
          { key, ...info, oldExpiresAt },
        );
        break;
      }
      default:
        throw new ConfigError(`unknown command "${command}"\n${USAGE}`);
    }
    return 0;
  } finally {
    await db.end();
    await local?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(
      `keys: ${err instanceof AppError || err instanceof ConfigError ? err.message : err.stack}\n`,
    );
    process.exit(err instanceof AppError ? 1 : 2);
  },
);
