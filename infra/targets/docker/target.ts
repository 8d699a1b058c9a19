/** The Docker target: `clawstack:target: docker`, section `clawstack:docker` — the stack on one engine. */
import { defineTarget } from '../types.ts';
import { DockerDeployment } from './index.ts';
import { DOCKER_KEYS, parseDockerSpec } from './spec.ts';
import type { DockerSpec } from './spec.ts';

export const dockerTarget = defineTarget<DockerSpec>({
  name: 'docker',
  summary: 'one Docker engine: network, named volumes, Redis, Postgres, api, worker (+ Caddy with a domain)',
  keys: DOCKER_KEYS,
  // One box: one api and one worker.
  defaults: { maxSize: () => 1 },
  parse: (section, common) => parseDockerSpec(section, common),
  deploy(spec) {
    const d = new DockerDeployment(spec.prefix, { spec });
    return {
      url: d.url,
      tierSummary: d.tierSummary,
      extras: { network: d.networkName, containers: d.containerNames },
      bootstrapApiKey: d.bootstrapApiKey,
    };
  },
});
