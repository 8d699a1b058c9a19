/** Shared fixtures for the Docker target's tests: a valid config per combination. */
import { DOCKER_KEYS } from '../../infra/targets/docker/spec.ts';
import type { Combination } from './helpers.ts';

/** External data services for `dataServices: managed` (the docker section holds their URLs). */
export const EXTERNAL = {
  redisUrl: 'rediss://:ext-redis-pass@redis.internal.example.com:6379',
  databaseUrl: 'postgres://app:ext-db-pass@db.internal.example.com:5432/clawstack',
};

/**
 * A valid Docker config for a combination. Keys of `clawstack:docker` may be given at the top level of
 * `extra` (they move into the section; `undefined` removes one), so a case reads as the one setting it
 * changes.
 */
export function dockerConfig(c: Combination, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {
    target: 'docker',
    tier: c.tier,
    capacity: c.capacity,
    dataServices: c.dataServices,
    image: 'clawstack/clawstack:test',
    ...(c.dataServices === 'managed' ? EXTERNAL : {}),
    ...extra,
  };
  const common: Record<string, unknown> = {};
  const section: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined) continue;
    (key in DOCKER_KEYS ? section : common)[key] = value;
  }
  return { ...common, docker: section };
}
