/**
 * The target-neutral workload: which processes a deployment runs and everything a target needs to
 * run them — image, command, environment (secrets as references), ports, probes, stop grace,
 * resources, GPU, volumes. Built once from the spec (./build.ts); every target renders it.
 */
import type { Capacity, TierSpec } from '../tiers.ts';

/** Secrets the workload refers to. Targets decide where the values live and how they are injected. */
export type SecretName =
  | 'dbPassword'
  | 'redisPassword'
  | 'bootstrapApiKey'
  | `appEnv.${string}`
  /** Connection URLs of external (managed) data services given as secrets, whole. */
  | 'redisUrl'
  | 'databaseUrl';

/** Where a secret's value comes from. */
export type SecretSource =
  /** The target generates it (random password/key) and stores it in its secret store. */
  | { kind: 'generated'; length: number }
  /** A value set with `pulumi config set --secret`; never written in plain text. */
  | { kind: 'config'; value: string };

export interface HttpProbe {
  kind: 'http';
  path: string;
  port: number;
}
export interface ExecProbe {
  kind: 'exec';
  command: string[];
}
export interface Probe {
  check: HttpProbe | ExecProbe;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface Port {
  name: string;
  port: number;
  /** public: behind the target's edge (TLS, allowed CIDRs); internal: other roles only. */
  exposure: 'public' | 'internal';
}

export interface Volume {
  name: string;
  mountPath: string;
  /** persistent: survives restarts and replacement (data); scratch: per-container temp space. */
  kind: 'persistent' | 'scratch';
  /** Size hint for persistent volumes (GiB). */
  sizeGb?: number;
}

export interface Resources {
  cpuMillis: number;
  cpuLimitMillis: number;
  memoryMiB: number;
  /** NVIDIA GPUs. */
  gpus: number;
}

export type RoleName = 'api' | 'worker' | 'redis' | 'postgres';

export interface Container {
  role: RoleName;
  image: string;
  /** Arguments after the image's entrypoint; absent: the image's CMD. */
  args?: string[];
  /** Plain environment. */
  env: Record<string, string>;
  /**
   * Environment whose values hold secrets: templates in which `secretRef(name)` stands for the
   * value of secret `name`. Targets substitute at run time; the values never appear in plain text.
   */
  secretEnv: Record<string, string>;
  ports: Port[];
  probes: { startup?: Probe; liveness: Probe; readiness: Probe };
  /** Seconds between SIGTERM and SIGKILL. */
  stopGraceSeconds: number;
  resources: Resources;
  volumes: Volume[];
  /** Numeric user the process runs as (never root). */
  runAsUser: number;
  /** The root filesystem can be read-only: everything written goes to `volumes`. */
  readOnlyRootFilesystem: boolean;
}

export interface Workload {
  prefix: string;
  stack: string;
  tier: TierSpec;
  capacity: Capacity;
  /** Labels/tags that every rendered object carries. */
  labels: Record<string, string>;
  app: { api: Container; worker: Container };
  /** Present when Redis/Postgres run inside the stack (dataServices colocated). */
  data: { redis?: Container; postgres?: Container };
  secrets: Partial<Record<SecretName, SecretSource>>;
  scaling: { min: number; max: number; cpuTargetPercent: number };
  /** The app's drain budget; every container's stop grace is at least this. */
  drainTimeoutMs: number;
}
