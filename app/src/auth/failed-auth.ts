/**
 * Brute-force throttle: failed authentications are counted per client address in Redis (shared by
 * every API instance); an address with too many in a minute gets 429 for a minute, before its key is
 * even looked at. A client with a valid key is never counted.
 */
import type { Request } from 'express';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { TooManyRequestsError } from '../errors.ts';

export const FAILED_AUTH_WINDOW_SECONDS = 60;

/** The address a failure is charged to: the socket's peer (Express's req.ip without trust proxy). */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export class FailedAuthThrottle {
  private readonly limiter: RateLimiterRedis;
  /** Addresses Redis said were not blocked, until when (ms): no Redis read per request for them. */
  private readonly clear = new Map<string, number>();

  /**
   * `clearCacheMs`: how long an address found unblocked is not asked about again. A block set by this
   * process applies at once (its failures drop the address from the cache); one set by another API
   * process reaches this one within `clearCacheMs` (the app passes AUTH_CACHE_MS, the key cache's bound).
   */
  constructor(
    redis: Redis,
    readonly failuresPerWindow: number,
    private readonly clearCacheMs = 0,
  ) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      points: failuresPerWindow,
      duration: FAILED_AUTH_WINDOW_SECONDS,
      blockDuration: FAILED_AUTH_WINDOW_SECONDS,
      keyPrefix: 'clawstack:authfail',
    });
  }

  /** Whether this address was found unblocked within `clearCacheMs`: `check` would pass without Redis. */
  knownClear(req: Request): boolean {
    return (this.clear.get(clientAddress(req)) ?? 0) > Date.now();
  }

  /** Throws 429 (with Retry-After) when this address is blocked. */
  async check(req: Request): Promise<void> {
    if (this.knownClear(req)) return;
    const address = clientAddress(req);
    const now = Date.now();
    const res = await this.limiter.get(address);
    if (res && res.consumedPoints >= this.failuresPerWindow) {
      this.clear.delete(address);
      throw this.blocked(res);
    }
    if (this.clearCacheMs > 0) {
      if (this.clear.size > 10_000) this.clear.clear();
      this.clear.set(address, now + this.clearCacheMs);
    }
  }

  /** Counts one failure for this address. */
  async failed(req: Request): Promise<void> {
    this.clear.delete(clientAddress(req));
    try {
      await this.limiter.consume(clientAddress(req), 1);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      // This failure used the last attempt: the address is blocked from now on; this answer stays 401.
    }
  }

  private blocked(res: RateLimiterRes) {
    const retry = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    return new TooManyRequestsError(
      `too many failed authentications from this address; retry in ${retry} s`,
      retry,
    );
  }
}
