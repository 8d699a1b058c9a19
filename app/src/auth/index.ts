/**
 * API-key authentication (`Authorization: Bearer …` or `x-api-key`) and per-key rate limits in Redis.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { TooManyRequestsError, UnauthorizedError } from '../errors.ts';
import { LeasedRateLimiter } from './budget.ts';
import type { ApiKeyInfo, ApiKeyStore } from '../store/keys.ts';
import { hashKey } from '../store/keys.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { FailedAuthThrottle } from './failed-auth.ts';

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: ApiKeyInfo;
    /** Charges `n` more requests to the key's rate limit (a batch's other items); throws 429 when they do not fit. */
    chargeRateLimit?: (n: number) => Promise<void>;
  }
}

export function presentedKey(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header ? header : undefined;
}

/**
 * Verifies keys against Postgres, remembering a valid key for `cacheMs` (never past its expiry) so a
 * busy client does not cost a database round trip per request. A revoked key stops working within
 * `cacheMs`.
 */
export class KeyVerifier {
  private readonly cache = new Map<string, { info: ApiKeyInfo; until: number }>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly cacheMs: number,
  ) {}

  async verify(key: string): Promise<ApiKeyInfo | undefined> {
    const h = hashKey(key);
    const now = Date.now();
    const hit = this.cache.get(h);
    if (hit && hit.until > now) return hit.info;
    this.cache.delete(h);
    const info = await this.keys.verify(key);
    if (info && this.cacheMs > 0) {
      const until = Math.min(now + this.cacheMs, info.expiresAt?.getTime() ?? Infinity);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(h, { info, until });
    }
    return info;
  }
}

/**
 * Requires a valid key. The key is hashed (SHA-256) before anything looks at it, and only its hash is
 * looked up (an index in Postgres, a Map in the cache), so how long a check takes says nothing about how
 * close a guess was. With a throttle, an address with too many failures gets 429 before its key is checked.
 */
export function requireApiKey(verifier: KeyVerifier, throttle?: FailedAuthThrottle) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    await throttle?.check(req);
    const key = presentedKey(req);
    const info = key ? await verifier.verify(key) : undefined;
    if (!info) {
      await throttle?.failed(req);
      throw new UnauthorizedError(
        key
          ? 'invalid, expired or revoked API key'
          : 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"',
      );
    }
    req.apiKey = info;
    next();
  };
}

/**
 * Per-key fixed-window limit; a key's own `rateLimit` overrides the default. Tokens are leased from Redis
 * in blocks (budget.ts), so most requests are decided in-process: never more than the limit per window
 * across processes; refused early by at most (processes − 1) × the lease size.
 */
export function rateLimit(
  redis: Redis,
  defaults: { requests: number; windowSeconds: number },
  metrics?: Metrics,
) {
  const limiter = new LeasedRateLimiter(redis, defaults.windowSeconds * 1000);
  return async (req: Request, res: Response, next: NextFunction) => {
    const key = req.apiKey;
    if (!key) return next();
    const points = key.rateLimit ?? defaults.requests;
    const charge = async (n: number) => {
      const d = await limiter.consume(key.id, points, n);
      res.setHeader('RateLimit-Limit', String(points));
      res.setHeader('RateLimit-Remaining', String(d.remaining));
      if (d.allowed) return;
      const retry = Math.max(1, Math.ceil(d.resetMs / 1000));
      metrics?.rateLimited.inc();
      res.setHeader('Retry-After', String(retry));
      throw new TooManyRequestsError(
        n === 1
          ? `rate limit of ${points} requests per ${defaults.windowSeconds} s exceeded`
          : `rate limit of ${points} requests per ${defaults.windowSeconds} s: ${n} more (a batch's items) do not fit in the ${d.remaining} left`,
        retry,
      );
    };
    await charge(1);
    req.chargeRateLimit = (n) => (n > 0 ? charge(n) : Promise.resolve());
    next();
  };
}
