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

  constructor(
    redis: Redis,
    readonly failuresPerWindow: number,
  ) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      points: failuresPerWindow,
      duration: FAILED_AUTH_WINDOW_SECONDS,
      blockDuration: FAILED_AUTH_WINDOW_SECONDS,
      keyPrefix: 'clawstack:authfail',
    });
  }

  /** Throws 429 (with Retry-After) when this address is blocked. */
  async check(req: Request): Promise<void> {
    const res = await this.limiter.get(clientAddress(req));
    if (res && res.consumedPoints >= this.failuresPerWindow) throw this.blocked(res);
  }

  /** Counts one failure for this address. */
  async failed(req: Request): Promise<void> {
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
