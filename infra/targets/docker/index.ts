/**
 * The Docker target's component: the workload on one Docker engine — a network, named volumes for the
 * persistent data, Redis and Postgres (colocated), the app image (built here or pulled), api and
 * worker, and Caddy in front when a domain is set. Decisions live in ./render.ts.
 */
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_PORT, CADDY_IMAGE, renderCaddyfile } from '../../edge/caddy.ts';
import {
  buildWorkload,
  containersOf,
  inStackPostgresUrl,
  inStackRedisUrl,
  resolveSecretRefs,
  secretRef,
} from '../../workload/index.ts';
import type { Container, SecretName, Workload } from '../../workload/index.ts';
import type { DeploymentSpec, TierSummary } from '../types.ts';
import {
  apiUrl,
  containerName,
  deviceRequests,
  dockerfileFor,
  envLines,
  healthcheck,
  healthWaitSeconds,
  labelList,
  limits,
  persistentMounts,
  publishedPorts,
  tmpfs,
  volumeName,
} from './render.ts';
import type { DockerSpec } from './spec.ts';

/** The repository root: the build context of the app image. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where the app image keeps its models (app/Dockerfile copies models/ there). */
export const IMAGE_MODEL_DIR = '/app/models';

export interface DockerDeploymentArgs {
  /** The parsed stack spec with the `clawstack:docker` section. */
  spec: DeploymentSpec<DockerSpec>;
}

/** The workload this target runs: data roles on the stack's network, reached by their role name. */
export function dockerWorkload(spec: DeploymentSpec<DockerSpec>): Workload {
  const ext = spec.section.external;
  return buildWorkload(spec, {
    redisUrl: ext ? secretRef('appEnv.REDIS_URL') : inStackRedisUrl('redis'),
    databaseUrl: ext ? secretRef('appEnv.DATABASE_URL') : inStackPostgresUrl('postgres'),
    modelSource: IMAGE_MODEL_DIR,
    inStackData: !ext,
    // With a domain, Caddy fronts the api (one hop); without, clients connect to it directly.
    trustedProxyHops: spec.tls.domain ? 1 : undefined,
    secrets: ext
      ? {
          'appEnv.REDIS_URL': { kind: 'config', value: ext.redisUrl },
          'appEnv.DATABASE_URL': { kind: 'config', value: ext.databaseUrl },
        }
      : undefined,
  });
}

export class DockerDeployment extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  /** The generated bootstrap API key (a Pulumi secret): the stack output `bootstrapApiKey`. */
  readonly bootstrapApiKey: pulumi.Output<string>;
  readonly tierSummary: TierSummary;
  readonly networkName: pulumi.Output<string>;
  readonly containerNames: Record<string, pulumi.Output<string>> = {};

  constructor(name: string, args: DockerDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:docker:Deployment', name, {}, opts);
    const { spec } = args;
    const s = spec.section;
    const w = dockerWorkload(spec);
    const labels = labelList(w.labels);

    const secrets = this.secretValues(name, w);
    this.bootstrapApiKey = secrets.apply((v) => v.bootstrapApiKey ?? '');
    const network = new docker.Network(
      `${name}-network`,
      { name: s.network, driver: 'bridge', labels },
      { parent: this },
    );
    const appImage = this.appImage(name, spec);
    const dataImages = { redis: s.dataImages.redis, postgres: s.dataImages.postgres };
    const data = [w.data.redis, w.data.postgres].filter((c): c is Container => !!c);
    const dataContainers = data.map((c) =>
      this.container(name, w, c, {
        image: this.remoteImage(name, c.role, dataImages[c.role as 'redis' | 'postgres'] ?? c.image),
        network,
        secrets,
        spec,
      }),
    );
    const app = [w.app.api, w.app.worker].map((c) =>
      this.container(name, w, c, { image: appImage, network, secrets, spec, dependsOn: dataContainers }),
    );
    if (spec.tls.domain) this.edge(name, spec, w, network, app[0]!);

    this.networkName = network.name;
    this.url = pulumi.output(apiUrl(spec.tls.domain, s.hostAddress, s.hostPort));
    this.tierSummary = {
      target: 'docker',
      tier: spec.tier.name,
      capacity: spec.capacity,
      executionProvider: spec.tier.app.executionProvider,
      gpus: w.app.api.resources.gpus,
      cpusPerProcess: w.app.api.resources.cpuLimitMillis / 1000,
      memoryMiBPerProcess: w.app.api.resources.memoryMiB,
      roles: containersOf(w).map((c) => c.role),
      dataServices: spec.dataServices,
      image: spec.image,
      published: `${s.hostAddress}:${s.hostPort}`,
    };
    this.registerOutputs({ url: this.url, networkName: this.networkName });
  }

  /** One value per secret the workload uses: generated here, or the stack's own secret config. */
  private secretValues(name: string, w: Workload): pulumi.Output<Partial<Record<SecretName, string>>> {
    const values: Record<string, pulumi.Output<string>> = {};
    for (const [secret, source] of Object.entries(w.secrets)) {
      if (!source) continue;
      values[secret] =
        source.kind === 'generated'
          ? new random.RandomPassword(
              `${name}-${secret.replace(/\W/g, '-')}`,
              { length: source.length, special: false },
              { parent: this },
            ).result
          : pulumi.secret(source.value);
    }
    return pulumi.secret(pulumi.all(values));
  }

  /** The app image: built from the tier's Dockerfile, or the published `clawstack:image` pulled. */
  private appImage(name: string, spec: DeploymentSpec<DockerSpec>): pulumi.Output<string> {
    if (!spec.section.build) return this.remoteImage(name, 'app', spec.image);
    const image = new docker.Image(
      `${name}-app-image`,
      {
        imageName: spec.image,
        skipPush: true,
        build: {
          context: REPO_ROOT,
          dockerfile: path.join(REPO_ROOT, dockerfileFor(!!spec.tier.gpu)),
          platform: 'linux/amd64',
          builderVersion: 'BuilderV1',
          ...(spec.section.buildNetwork ? { network: spec.section.buildNetwork } : {}),
        },
      },
      { parent: this },
    );
    return image.imageName;
  }

  private remoteImage(name: string, role: string, ref: string): pulumi.Output<string> {
    return new docker.RemoteImage(`${name}-${role}-image`, { name: ref, keepLocally: true }, { parent: this })
      .imageId;
  }

  private container(
    name: string,
    w: Workload,
    c: Container,
    ctx: {
      image: pulumi.Input<string>;
      network: docker.Network;
      secrets: pulumi.Output<Partial<Record<SecretName, string>>>;
      spec: DeploymentSpec<DockerSpec>;
      dependsOn?: pulumi.Resource[];
    },
  ): docker.Container {
    // One secret output per line: the plain lines stay readable in a plan, the secret ones do not.
    const secretLines = Object.entries(c.secretEnv).map(([k, template]) =>
      pulumi.secret(ctx.secrets.apply((values) => `${k}=${resolveSecretRefs(template, values)}`)),
    );
    const container = new docker.Container(
      `${name}-${c.role}`,
      {
        name: containerName(w.prefix, c.role),
        image: ctx.image,
        ...(c.args ? { command: c.args } : {}),
        envs: [...envLines(c.env), ...secretLines],
        networksAdvanced: [{ name: ctx.network.name, aliases: [c.role] }],
        ports: publishedPorts(c, ctx.spec.section.hostAddress, ctx.spec.section.hostPort),
        healthcheck: healthcheck(c.probes),
        volumes: persistentMounts(w.prefix, c.volumes).map((m) => ({
          ...m,
          volumeName: this.volume(m.volumeName, w).name,
        })),
        tmpfs: tmpfs(c.volumes),
        ...limits(c),
        deviceRequests: deviceRequests(c),
        user: String(c.runAsUser),
        readOnly: c.readOnlyRootFilesystem,
        restart: 'unless-stopped',
        stopSignal: 'SIGTERM',
        stopTimeout: c.stopGraceSeconds,
        destroyGraceSeconds: c.stopGraceSeconds,
        wait: true,
        waitTimeout: healthWaitSeconds(c),
        labels: labelList({ ...w.labels, role: c.role }),
      },
      { parent: this, dependsOn: ctx.dependsOn },
    );
    this.containerNames[c.role] = container.name;
    return container;
  }

  private volumes = new Map<string, docker.Volume>();
  private volume(volName: string, w: Workload): docker.Volume {
    let v = this.volumes.get(volName);
    if (!v) {
      v = new docker.Volume(
        volName,
        { name: volName, labels: labelList(w.labels) },
        // Data outlives a mistaken `pulumi destroy` only if it is not deleted with the stack.
        { parent: this, retainOnDelete: true },
      );
      this.volumes.set(volName, v);
    }
    return v;
  }

  /** Caddy in front of the api: certificates for the domain, /metrics only for the admin CIDRs. */
  private edge(
    name: string,
    spec: DeploymentSpec<DockerSpec>,
    w: Workload,
    network: docker.Network,
    api: docker.Container,
  ) {
    const caddyfile = renderCaddyfile({
      domain: spec.tls.domain!,
      acmeEmail: spec.tls.acmeEmail,
      adminCidrs: spec.network.adminCidrs,
      upstream: `api:${w.app.api.ports[0]!.port}`,
    });
    const addr = spec.section.tlsHostAddress;
    new docker.Container(
      `${name}-edge`,
      {
        name: containerName(w.prefix, 'edge'),
        image: this.remoteImage(name, 'edge', CADDY_IMAGE),
        networksAdvanced: [{ name: network.name, aliases: ['edge'] }],
        ports: [80, 443, ...(spec.network.adminCidrs.length ? [ADMIN_PORT] : [])].map((p) => ({
          internal: p,
          external: p,
          ip: addr,
          protocol: 'tcp',
        })),
        uploads: [{ file: '/etc/caddy/Caddyfile', content: caddyfile }],
        volumes: ['caddy-data', 'caddy-config'].map((v) => ({
          volumeName: this.volume(volumeName(w.prefix, v), w).name,
          containerPath: v === 'caddy-data' ? '/data' : '/config',
        })),
        tmpfs: { '/var/log/caddy': 'rw' },
        restart: 'unless-stopped',
        labels: labelList({ ...w.labels, role: 'edge' }),
      },
      { parent: this, dependsOn: [api] },
    );
  }
}
