/**
 * The `clawstack:docker` section: where the one box publishes the API, whether the app image is built
 * here or pulled, the network name, the data images, and the external URLs that `dataServices:
 * managed` needs. Errors name `clawstack:docker.<key>` or the common key they concern.
 */
import { z } from 'zod';
import type { CommonSpec } from '../../spec/common.ts';
import { bool, IMAGE_REF, int, jsonText, PROJECT, readSection, StackConfigError } from '../../spec/schema.ts';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const url = (schemes: string[]) =>
  z.string().refine((v) => {
    try {
      return schemes.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  });

export const DOCKER_KEYS = {
  hostAddress: {
    schema: z.string().regex(IPV4),
    allowed: 'an IPv4 address of the Docker host to publish the API on, e.g. 127.0.0.1 (the default)',
  },
  hostPort: { schema: int(1, 65535), allowed: 'a TCP port from 1 to 65535 (default 8080)' },
  build: {
    schema: bool,
    allowed:
      'true (build clawstack:image here from app/Dockerfile, or app/Dockerfile.gpu on the gpu tier; the default) | false (pull clawstack:image)',
  },
  buildNetwork: {
    schema: z.string().regex(NAME),
    allowed: 'a network for RUN steps during the build, e.g. host (default: the engine default)',
  },
  network: { schema: z.string().regex(NAME), allowed: 'a Docker network name (default <prefix>)' },
  tlsHostAddress: {
    schema: z.string().regex(IPV4),
    allowed:
      'an IPv4 address to publish Caddy on (ports 80 and 443) when clawstack:domain is set (default 0.0.0.0)',
  },
  dataImages: {
    schema: z.preprocess(
      jsonText,
      z
        .object({ redis: z.string().regex(IMAGE_REF), postgres: z.string().regex(IMAGE_REF) })
        .partial()
        .strict(),
    ),
    allowed:
      'an object {redis?, postgres?} of image references for the in-stack data services (default redis:7-alpine, postgres:16-alpine)',
  },
  redisUrl: {
    schema: url(['redis:', 'rediss:']),
    allowed: 'a redis:// or rediss:// URL (with dataServices managed; set it with --secret)',
  },
  databaseUrl: {
    schema: url(['postgres:', 'postgresql:']),
    allowed: 'a postgres:// URL (with dataServices managed; set it with --secret)',
  },
} as const;

export interface DockerSpec {
  hostAddress: string;
  hostPort: number;
  /** Build the image here (true) or pull `clawstack:image` (false). */
  build: boolean;
  buildNetwork?: string;
  network: string;
  tlsHostAddress: string;
  dataImages: { redis?: string; postgres?: string };
  /** External data services (dataServices managed); treated as secrets whatever the stack file says. */
  external?: { redisUrl: string; databaseUrl: string };
}

const qualify = (key: string) => `${PROJECT}:docker.${key}`;

/** Parses `clawstack:docker` and checks it against the common keys. Pure; throws StackConfigError. */
export function parseDockerSpec(section: Record<string, unknown>, common: CommonSpec): DockerSpec {
  const v = readSection(section, DOCKER_KEYS, qualify);
  if (common.scaling.max > 1)
    throw new StackConfigError(
      `${PROJECT}:maxSize`,
      common.scaling.max,
      '1 with target docker',
      'the docker target runs one api and one worker on one engine',
    );
  const managed = common.dataServices === 'managed';
  for (const key of ['redisUrl', 'databaseUrl'] as const) {
    if (managed && !v[key])
      throw new StackConfigError(
        qualify(key),
        undefined,
        DOCKER_KEYS[key].allowed,
        'dataServices is managed',
      );
    if (!managed && v[key])
      throw new StackConfigError(qualify(key), v[key], '(unset) with dataServices colocated');
  }
  return {
    hostAddress: v.hostAddress ?? '127.0.0.1',
    hostPort: v.hostPort ?? 8080,
    build: v.build ?? true,
    buildNetwork: v.buildNetwork,
    network: v.network ?? common.prefix,
    tlsHostAddress: v.tlsHostAddress ?? '0.0.0.0',
    dataImages: v.dataImages ?? {},
    external: managed ? { redisUrl: v.redisUrl!, databaseUrl: v.databaseUrl! } : undefined,
  };
}
