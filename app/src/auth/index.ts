/**
 * API-key authentication (`Authorization: Bearer …` or `x-api-key`) and per-key rate limits in Redis.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { TooManyRequestsError, UnauthorizedError } from '../errors.ts';
import { LeasedRateLimiter, type Decision } from './budget.ts';
import type { ApiKeyInfo, ApiKeyStore } from '../store/keys.ts';
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
 *
 * The cache is keyed by the presented key itself, not by its SHA-256: a hit costs one Map lookup instead
 * of a hash per request. Only keys Postgres accepted are cached (at most 10,000, each for `cacheMs`), so
 * the process holds a few seconds' worth of valid keys it has just been sent. A Map lookup hashes the
 * whole string and compares strings only on an equal hash, so its time does not tell how close a wrong
 * key was; a key missing from the cache is hashed and looked up by its hash in Postgres as before.
 */
export class KeyVerifier {
  private readonly cache = new Map<string, { info: ApiKeyInfo; until: number }>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly cacheMs: number,
  ) {}

  /** The key's record when the cache holds it still valid now, without asking Postgres. */
  cached(key: string): ApiKeyInfo | undefined {
    const hit = this.cache.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > Date.now()) return hit.info;
    this.cache.delete(key);
    return undefined;
  }

  async verify(key: string): Promise<ApiKeyInfo | undefined> {
    const hit = this.cached(key);
    if (hit) return hit;
    const now = Date.now();
    const info = await this.keys.verify(key);
    if (info && this.cacheMs > 0) {
      const until = Math.min(now + this.cacheMs, info.expiresAt?.getTime() ?? Infinity);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { info, until });
    }
    return info;
  }
}

/**
 * Requires a valid key. A key is looked up by its SHA-256 in Postgres (an index), or found in the
 * verifier's cache of keys Postgres accepted a moment ago, so how long a check takes says nothing about
 * how close a guess was. With a throttle, an address with too many failures gets 429 before its key is
 * checked. The common case (an address known not to be blocked, a cached key) is decided without
 * waiting for anything.
 */
export function requireApiKey(verifier: KeyVerifier, throttle?: FailedAuthThrottle) {
  const checkSlowly = async (req: Request, key: string | undefined, next: NextFunction) => {
    await throttle?.check(req);
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
  return (req: Request, _res: Response, next: NextFunction) => {
    const key = presentedKey(req);
    const info = key && (!throttle || throttle.knownClear(req)) ? verifier.cached(key) : undefined;
    if (!info) return checkSlowly(req, key, next);
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
  /** Sets the rate-limit headers; throws 429 when the decision refuses. */
  const answer = (res: Response, n: number, d: Decision) => {
    res.setHeader('RateLimit-Limit', String(d.limit));
    res.setHeader('RateLimit-Remaining', String(d.remaining));
    if (d.allowed) return;
    const retry = Math.max(1, Math.ceil(d.resetMs / 1000));
    metrics?.rateLimited.inc();
    res.setHeader('Retry-After', String(retry));
    throw new TooManyRequestsError(
      n === 1
        ? `rate limit of ${d.limit} requests per ${defaults.windowSeconds} s exceeded`
        : `rate limit of ${d.limit} requests per ${defaults.windowSeconds} s: ${n} more (a batch's items) do not fit in the ${d.remaining} left`,
      retry,
    );
  };
  return (req: Request, res: Response, next: NextFunction) => {
    const key = req.apiKey;
    if (!key) return next();
    const points = key.rateLimit ?? defaults.requests;
    req.chargeRateLimit = async (n) => {
      if (n > 0) answer(res, n, await limiter.consume(key.id, points, n));
    };
    // Most requests are decided by this process's lease, without waiting for Redis.
    const now = limiter.consumeNow(key.id, points);
    if ('lease' in now)
      return limiter.consume(key.id, points).then((d) => {
        answer(res, 1, d);
        next();
      });
    answer(res, 1, now);
    next();
  };
}
