/**
 * A workload Container → the `docker run` command line an instance runs it with, and the systemd
 * quoting of that line. Pure: every flag comes from the Container (image, args, env files, ports,
 * limits, GPUs, stop grace, health check from its probes, volumes, user, read-only root) plus the
 * few things only the instance knows (network, log group, where files live).
 */
import type { Container, Probe } from '../../workload/index.ts';

/** Where a container's files live on the instance. */
export const INSTANCE_PATHS = {
  /** Plain environment, written by cloud-init (`<role>.env`), and secret templates (`<role>.secret-env`). */
  config: '/etc/clawstack',
  /** Secret environment resolved at boot (tmpfs, root-only). */
  run: '/run/clawstack',
  /** Persistent volumes (the EBS data volume when the data services are co-located). */
  data: '/var/lib/clawstack',
} as const;

/** The docker network every container of the instance joins; container names resolve on it. */
export const DOCKER_NETWORK = 'clawstack';

/** `clawstack-<role>`: the container name and (in-stack data) the host name others connect to. */
export const containerName = (role: string) => `clawstack-${role}`;

export interface InstanceContext {
  region: string;
  /** CloudWatch log group of this container's output. */
  logGroup: string;
  /**
   * Publish public ports on the host: `all` (behind the ALB), `loopback` (behind Caddy on the same
   * host), or not at all (internal-only containers never publish).
   */
  publish: 'all' | 'loopback';
  /** Host files mounted read-only at the same path (e.g. the RDS CA). */
  readOnlyFiles?: string[];
  /** Container ports also published on 127.0.0.1 only (e.g. the worker's /metrics for the CloudWatch agent). */
  loopbackPorts?: { host: number; container: number }[];
}

/** An argument systemd must not touch (`%H`, the host name, is meant as a specifier). */
export interface Raw {
  raw: string;
}
export type Arg = string | Raw;

/** Host directory of a persistent volume: `<data>/<volume name without -data>`. */
export function hostPathOf(volumeName: string): string {
  return `${INSTANCE_PATHS.data}/${volumeName.replace(/-data$/, '')}`;
}

/** A command array as one `sh -c` string (Docker's CMD-SHELL health check takes one). */
export function shellJoin(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The health check command of a probe: exec as is, http through the image's own node. */
export function healthCommand(probe: Probe): string {
  const c = probe.check;
  if (c.kind === 'exec')
    return c.command[0] === 'sh' && c.command[1] === '-c' ? c.command[2]! : shellJoin(c.command);
  const url = `http://127.0.0.1:${c.port}${c.path}`;
  return `node -e "fetch('${url}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`;
}

/** Docker health-check flags: the liveness probe, with the startup probe's budget as start period. */
export function healthFlags(c: Container): string[] {
  const live = c.probes.liveness;
  const startup = c.probes.startup;
  const startSeconds = startup ? startup.periodSeconds * startup.failureThreshold : 0;
  return [
    '--health-cmd',
    healthCommand(live),
    '--health-interval',
    `${live.periodSeconds}s`,
    '--health-timeout',
    `${live.timeoutSeconds}s`,
    '--health-retries',
    String(live.failureThreshold),
    ...(startSeconds ? ['--health-start-period', `${startSeconds}s`] : []),
  ];
}

/** `--cpus` and `--memory` from the container's limits; GPUs with `--gpus`. */
export function resourceFlags(c: Container): string[] {
  const r = c.resources;
  return [
    '--cpus',
    String(r.cpuLimitMillis / 1000),
    '--memory',
    `${r.memoryMiB}m`,
    ...(r.gpus > 0 ? ['--gpus', String(r.gpus)] : []),
  ];
}

/** Persistent volumes as bind mounts of host directories, scratch volumes as tmpfs. */
export function volumeFlags(c: Container): string[] {
  return c.volumes.flatMap((v) =>
    v.kind === 'persistent' ? ['-v', `${hostPathOf(v.name)}:${v.mountPath}`] : ['--tmpfs', v.mountPath],
  );
}

function portFlags(c: Container, publish: InstanceContext['publish']): string[] {
  return c.ports
    .filter((p) => p.exposure === 'public')
    .flatMap((p) => ['-p', publish === 'loopback' ? `127.0.0.1:${p.port}:${p.port}` : `${p.port}:${p.port}`]);
}

/** Env files of a container: plain (always) and secret (resolved at boot) when it has secret env. */
export function envFiles(c: Container): { plain: string; secretTemplate?: string; secret?: string } {
  const hasSecrets = Object.keys(c.secretEnv).length > 0;
  return {
    plain: `${INSTANCE_PATHS.config}/${c.role}.env`,
    secretTemplate: hasSecrets ? `${INSTANCE_PATHS.config}/${c.role}.secret-env` : undefined,
    secret: hasSecrets ? `${INSTANCE_PATHS.run}/${c.role}.env` : undefined,
  };
}

/** The whole `docker run` argv for one container on an instance. */
export function dockerRunArgs(c: Container, ctx: InstanceContext): Arg[] {
  const files = envFiles(c);
  return [
    '/usr/bin/docker',
    'run',
    '--rm',
    '--name',
    containerName(c.role),
    '--network',
    DOCKER_NETWORK,
    ...portFlags(c, ctx.publish),
    ...(ctx.loopbackPorts ?? []).flatMap((p) => ['-p', `127.0.0.1:${p.host}:${p.container}`]),
    ...resourceFlags(c),
    '--user',
    String(c.runAsUser),
    ...(c.readOnlyRootFilesystem ? ['--read-only'] : []),
    ...volumeFlags(c),
    ...(ctx.readOnlyFiles ?? []).flatMap((f) => ['-v', `${f}:${f}:ro`]),
    '--env-file',
    files.plain,
    ...(files.secret ? ['--env-file', files.secret] : []),
    '--stop-timeout',
    String(c.stopGraceSeconds),
    ...healthFlags(c),
    '--log-driver',
    'awslogs',
    '--log-opt',
    `awslogs-region=${ctx.region}`,
    '--log-opt',
    `awslogs-group=${ctx.logGroup}`,
    '--log-opt',
    { raw: `awslogs-stream=%H-${c.role}` },
    // The app must not block on CloudWatch: a full buffer drops lines instead of stalling writes.
    '--log-opt',
    'mode=non-blocking',
    '--log-opt',
    'max-buffer-size=4m',
    c.image,
    ...(c.args ?? []),
  ];
}

/**
 * One systemd command line: plain words as they are, others double-quoted; `$` and `%` doubled so
 * systemd expands neither (except in {@link Raw} arguments).
 */
export function systemdCommandLine(argv: Arg[]): string {
  return argv
    .map((a) => {
      if (typeof a !== 'string') return a.raw;
      const word = /^[\w@+=:,./-]+$/.test(a) ? a : `"${a.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
      return word.replace(/\$/g, '$$$$').replace(/%/g, '%%');
    })
    .join(' ');
}

/** An env file (`KEY=value` per line; Docker reads values literally, so no newline may be inside). */
export function envFileText(env: Record<string, string>): string {
  for (const [k, v] of Object.entries(env))
    if (/[\r\n]/.test(v)) throw new Error(`environment value ${k} spans lines; an env file cannot hold it`);
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')
    .concat('\n');
}
