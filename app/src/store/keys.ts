/** ApiKeyStore: API keys, stored as SHA-256 hashes, with rotation grace and revocation. */
import { createHash, randomBytes } from 'node:crypto';
import { NotFoundError } from '../errors.ts';
import { audit } from './audit.ts';
import type { Db } from './db.ts';

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  rateLimit: number | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** `cs_` + 32 base64url characters (192 random bits). */
export function generateKey(): string {
  return `cs_${randomBytes(24).toString('base64url')}`;
}

// Columns aliased to ApiKeyInfo's field names, so rows are records as they come.
const COLUMNS = `id, name, prefix, rate_limit AS "rateLimit", created_at AS "createdAt", expires_at AS "expiresAt",
  revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"`;

export class ApiKeyStore {
  constructor(private readonly db: Db) {}

  async create(name: string, opts: { rateLimit?: number; key?: string; actor?: string } = {}) {
    const key = opts.key ?? generateKey();
    const res = await this.db.query<ApiKeyInfo>(
      `INSERT INTO api_keys (name, prefix, hash, rate_limit) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [name, key.slice(0, 10), hashKey(key), opts.rateLimit ?? null],
    );
    const info = res.rows[0]!;
    await audit(this.db, opts.actor ?? 'cli', 'key.create', info.id, { name });
    return { key, info };
  }

  /** The key's record when it is valid now (not revoked, not past its expiry), else undefined. */
  async verify(key: string): Promise<ApiKeyInfo | undefined> {
    const res = await this.db.query<ApiKeyInfo>(
      `UPDATE api_keys SET last_used_at = now()
        WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        RETURNING ${COLUMNS}`,
      [hashKey(key)],
    );
    return res.rows[0];
  }

  async exists(key: string): Promise<boolean> {
    const res = await this.db.query('SELECT 1 FROM api_keys WHERE hash = $1', [hashKey(key)]);
    return (res.rowCount ?? 0) > 0;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const res = await this.db.query<ApiKeyInfo>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at`);
    return res.rows;
  }

  /** Finds one key by id, or by a unique prefix of its visible prefix. */
  private async resolve(ref: string): Promise<ApiKeyInfo> {
    const res = await this.db.query<ApiKeyInfo>(
      `SELECT ${COLUMNS} FROM api_keys WHERE id::text = $1 OR prefix = $1 OR (length($1) >= 6 AND prefix LIKE $1 || '%')`,
      [ref],
    );
    if (res.rows.length !== 1) {
      throw new NotFoundError(
        res.rows.length ? `"${ref}" matches ${res.rows.length} keys; use the id` : `no API key "${ref}"`,
      );
    }
    return res.rows[0]!;
  }

  async revoke(ref: string, actor = 'cli'): Promise<ApiKeyInfo> {
    const row = await this.resolve(ref);
    const res = await this.db.query<ApiKeyInfo>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [row.id],
    );
    await audit(this.db, actor, 'key.revoke', row.id);
    return res.rows[0]!;
  }

  /**
   * Issues a new key with the same name and limits; the old one stays valid for `graceSeconds`
   * (so clients can switch without an outage), then expires.
   */
  async rotate(ref: string, graceSeconds: number, actor = 'cli') {
    const old = await this.resolve(ref);
    if (old.revokedAt) throw new NotFoundError(`API key ${old.prefix}… is revoked`);
    const fresh = await this.create(old.name, { rateLimit: old.rateLimit ?? undefined, actor });
    await this.db.query(
      `UPDATE api_keys SET replaced_by = $2,
              expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => $3))
        WHERE id = $1`,
      [old.id, fresh.info.id, graceSeconds],
    );
    await audit(this.db, actor, 'key.rotate', old.id, { replacedBy: fresh.info.id, graceSeconds });
    return { ...fresh, oldExpiresAt: new Date(Date.now() + graceSeconds * 1000) };
  }
}
