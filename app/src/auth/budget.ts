/**
 * Per-key fixed-window rate limits with an in-process token budget leased from Redis, instead of a
 * Redis round trip on every request (the serving profile's next item after featurizing).
 *
 * Each window `w` (= floor(now / windowMs)) has one Redis counter per key and limit,
 * `clawstack:rl2:<limit>:<key id>:<w>`. A process leases up to `lease` tokens at once with one atomic
 * script that never lets the counter pass the limit; it then admits requests from its lease without
 * asking Redis, and leases more (in the background, before the lease runs out) while the window lasts.
 *
 * Bound (documented in docs/operations and tested against real Redis):
 * - never more than `limit` requests per key and window, across every process (leases never exceed it);
 * - a request is refused early only while other processes hold unused tokens of their leases: at most
 *   (processes − 1) × lease tokens per window; with one process, exactly `limit` are admitted.
 * The lease size is `leaseSize(limit)`: 1 for small limits (every request asks Redis, exact),
 * up to 64 for large ones.
 */
import type { Redis } from 'ioredis';

/** Tokens leased at once for a limit: about 1 % of it, between 1 and 64. */
export const leaseSize = (limit: number): number => Math.max(1, Math.min(64, Math.floor(limit / 100)));

// KEYS[1] counter; ARGV: wanted, limit, window ms. Returns { granted, counter after }.
const LEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return {0, used} end
local now = redis.call('INCRBY', KEYS[1], grant)
if now == grant then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {grant, now}
`;

interface Budget {
  window: number;
  /** Tokens this process may still hand out in `window`. */
  left: number;
  /** The key's counter in Redis after this process's last lease (all processes' leases). */
  used: number;
  /** A lease in flight. */
  leasing?: Promise<void>;
  /** Redis said the window is spent: no more leases in this window. */
  spent: boolean;
}

export interface Decision {
  allowed: boolean;
  limit: number;
  /** Estimate of what is left in the window across processes (exact with one process). */
  remaining: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
}

export class LeasedRateLimiter {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes `tokens` (one per request; a batch's item count) of `limit` per window for key `id`, all or
   * none: a batch that does not fit what is left is refused whole.
   */
  async consume(id: string, limit: number, tokens = 1): Promise<Decision> {
    for (;;) {
      const now = this.consumeNow(id, limit, tokens);
      if (!('lease' in now)) return now;
      await now.lease;
    }
  }

  /**
   * `consume` as far as it goes without Redis: the decision when this process's lease decides it (the
   * common case), else the lease to wait for before asking again.
   */
  consumeNow(id: string, limit: number, tokens = 1): Decision | { lease: Promise<void> } {
    const t = this.now();
    const window = Math.floor(t / this.windowMs);
    const resetMs = (window + 1) * this.windowMs - t;
    const name = `${limit}:${id}`;
    let b = this.budgets.get(name);
    if (!b || b.window !== window) {
      b = { window, left: 0, used: 0, spent: false };
      this.budgets.set(name, b);
      if (this.budgets.size > 10_000) this.prune(window);
    }
    const lease = leaseSize(limit);
    if (b.left < tokens && !b.spent)
      return { lease: (b.leasing ??= this.lease(b, name, limit, Math.max(lease, tokens - b.left))) };
    if (b.left < tokens) return { allowed: false, limit, remaining: b.left, resetMs };
    b.left -= tokens;
    // Lease ahead when half of a lease is gone, so that requests do not wait for Redis.
    if (lease > 1 && b.left < lease / 2 && !b.spent && !b.leasing)
      b.leasing = this.lease(b, name, limit, lease).catch(() => {});
    return { allowed: true, limit, remaining: Math.max(0, limit - b.used + b.left), resetMs };
  }

  private async lease(b: Budget, name: string, limit: number, wanted: number) {
    try {
      const [granted, used] = (await this.redis.eval(
        LEASE_SCRIPT,
        1,
        `clawstack:rl2:${name}:${b.window}`,
        wanted,
        limit,
        this.windowMs * 2,
      )) as [number, number];
      b.left += granted;
      b.used = used;
      if (granted < wanted) b.spent = true;
    } finally {
      b.leasing = undefined;
    }
  }

  private prune(window: number) {
    for (const [k, b] of this.budgets) if (b.window !== window) this.budgets.delete(k);
  }
}
