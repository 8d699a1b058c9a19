/**
 * The instance's cloud-init user-data: the workload's containers under systemd (one `docker run`
 * line per Container, ./docker-run.ts), secrets fetched at boot, CloudWatch agent, spot/scale-in
 * drain agent, daily cleanup timer.
 *
 * Pure: takes the workload and resolved values, returns the `#cloud-config` text (validated by
 * `cloud-init schema` in test/infra). Scripts and units are real files in ./files, rendered with
 * Mustache; the document is written by the `yaml` library. Secrets never appear here, only their
 * ARNs and the workload's references to them.
 */
import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { stringify } from 'yaml';
import { renderCaddyfile, CADDY_IMAGE } from '../../edge/caddy.ts';
import { containersOf, DB_NAME, DB_USER, secretRef, secretRefsIn } from '../../workload/index.ts';
import type { Container, SecretName, Workload } from '../../workload/index.ts';
import {
  containerName,
  dockerRunArgs,
  envFiles,
  envFileText,
  hostPathOf,
  INSTANCE_PATHS,
  systemdCommandLine,
} from './docker-run.ts';
import { DB_URL_DIR } from './decisions.ts';
import { RDS_CA_PATH } from './rds-ca.ts';
import {
  AGENT_CONFIG_PATH,
  agentConfig,
  PROMETHEUS_CONFIG_PATH,
  prometheusConfig,
  SCRAPE_PORTS,
} from './metrics-agent.ts';

export interface CloudInitParams {
  /** The workload: api and worker, plus redis and postgres when the data services are co-located. */
  workload: Workload;
  region: string;
  /** `instance`: Caddy terminates TLS here and the instance holds the Elastic IP. */
  edge: 'alb' | 'instance';
  domain?: string;
  acmeEmail?: string;
  /** Admin (metrics) listener on the instance edge when non-empty. */
  adminCidrs: string[];
  eipAllocationId?: string;
  dataVolumeId?: string;
  /** Secrets Manager ARN of every secret the workload refers to. */
  secretArns: Partial<Record<SecretName, string>>;
  bucket: string;
  logPrefix: string;
  /** CloudWatch log group per container role, `system` (cloud-init output) and `edge` (Caddy). */
  logGroups: Record<string, string>;
  /** The log group of the app's metrics (the CloudWatch agent's embedded-metric-format events). */
  metricsLogGroup: string;
  asgName: string;
  drainHookName: string;
  targetGroupArn?: string;
  localLogDays: number;
  /** PEM of the RDS CA (managed Postgres): written to RDS_CA_PATH and mounted into the app containers. */
  rdsCaPem?: string;
  /**
   * The app's rotated database login (managed Postgres): its secret, and the URL template the
   * instance fills from it into DB_URL_FILE at boot and every few minutes (files/clawstack-db-url.sh).
   */
  dbLogin?: { secretArn: string; urlTemplate: string };
}

interface WriteFile {
  path: string;
  content: string;
  permissions: string;
}

const file = (name: string) => readFileSync(new URL(`./files/${name}`, import.meta.url), 'utf8');
/** Shell scripts and units are not HTML: Mustache must not escape anything. */
const render = (template: string, view: object) =>
  Mustache.render(template, view, {}, { escape: (text: string) => text });
const [refPrefix, refSuffix] = secretRef('dbPassword').split('dbPassword') as [string, string];

function envFile(vars: Record<string, string | number | boolean | undefined>): string {
  const defined = Object.entries(vars).filter(([, v]) => v !== undefined && v !== '');
  return envFileText(Object.fromEntries(defined.map(([k, v]) => [k, String(v)])));
}

/** The systemd unit that runs one container. */
export function containerUnit(
  c: Container,
  p: Pick<CloudInitParams, 'region' | 'logGroups' | 'edge' | 'rdsCaPem' | 'dbLogin'>,
  after: string[],
): string {
  const logGroup = p.logGroups[c.role];
  if (!logGroup) throw new Error(`no log group for container ${c.role}`);
  const run = dockerRunArgs(c, {
    region: p.region,
    logGroup,
    publish: p.edge === 'instance' ? 'loopback' : 'all',
    readOnlyFiles:
      c.role === 'api' || c.role === 'worker'
        ? [...(p.rdsCaPem ? [RDS_CA_PATH] : []), ...(p.dbLogin ? [DB_URL_DIR] : [])]
        : [],
    // The CloudWatch agent scrapes the worker's /metrics here (the api's port is published anyway).
    loopbackPorts:
      c.role === 'worker' ? [{ host: SCRAPE_PORTS.worker, container: c.ports[0]!.port }] : undefined,
  });
  return render(file('container.service'), {
    name: containerName(c.role),
    description: `clawstack ${c.role} (container ${c.image})`,
    after,
    execStart: systemdCommandLine(run),
    execStartPost: c.role === 'postgres' ? '/usr/local/bin/clawstack-pg-sync' : undefined,
    stopGraceSeconds: c.stopGraceSeconds,
    // systemd waits a little longer than docker, which SIGKILLs at the stop grace.
    timeoutStopSeconds: c.stopGraceSeconds + 15,
  });
}

function containerFiles(p: CloudInitParams): WriteFile[] {
  const containers = containersOf(p.workload);
  const dataUnits = containers
    .filter((c) => c.role === 'redis' || c.role === 'postgres')
    .map((c) => `${containerName(c.role)}.service`);
  return containers.flatMap((c) => {
    const files = envFiles(c);
    const out: WriteFile[] = [
      { path: files.plain, permissions: '0644', content: envFileText(c.env) },
      {
        path: `/etc/systemd/system/${containerName(c.role)}.service`,
        permissions: '0644',
        content: containerUnit(c, p, c.role === 'api' || c.role === 'worker' ? dataUnits : []),
      },
    ];
    // Templates only: clawstack-secrets resolves them into /run/clawstack/<role>.env (0600).
    if (files.secretTemplate)
      out.push({ path: files.secretTemplate, permissions: '0600', content: envFileText(c.secretEnv) });
    return out;
  });
}

/** `<host dir> <uid>` of every persistent volume, created by clawstack-prepare. */
export function volumeDirectories(w: Workload): string {
  return containersOf(w)
    .flatMap((c) =>
      c.volumes.filter((v) => v.kind === 'persistent').map((v) => `${hostPathOf(v.name)} ${c.runAsUser}\n`),
    )
    .join('');
}

/** `<secret name> <ARN>` for each secret the containers refer to; an unknown ARN is an error. */
export function secretsMap(w: Workload, arns: CloudInitParams['secretArns']): string {
  // Only what a container uses: a secret the workload holds for the platform (the RDS master
  // password) never reaches the instance.
  const used = new Set(containersOf(w).flatMap((c) => Object.values(c.secretEnv).flatMap(secretRefsIn)));
  return [...used]
    .sort()
    .map((name) => {
      const arn = arns[name as SecretName];
      if (!arn) throw new Error(`no Secrets Manager ARN for secret ${name}`);
      return `${name} ${arn}\n`;
    })
    .join('');
}

function deployEnv(p: CloudInitParams): string {
  return envFile({
    STACK: p.workload.stack,
    AWS_REGION: p.region,
    BUCKET: p.bucket,
    LOG_PREFIX: p.logPrefix,
    ASG_NAME: p.asgName,
    DRAIN_HOOK: p.drainHookName,
    STOP_GRACE_SECONDS: p.workload.app.api.stopGraceSeconds,
    TARGET_GROUP_ARN: p.targetGroupArn,
    DATA_VOLUME_ID: p.dataVolumeId,
    EIP_ALLOCATION_ID: p.eipAllocationId,
    LOCAL_LOG_DAYS: p.localLogDays,
    DB_APP_SECRET_ARN: p.dbLogin?.secretArn,
    APP_UID: p.dbLogin ? p.workload.app.api.runAsUser : undefined,
  });
}

function edgeFiles(p: CloudInitParams): WriteFile[] {
  if (p.edge !== 'instance') return [];
  const api = p.workload.app.api.ports.find((x) => x.exposure === 'public')!;
  const run = [
    '/usr/bin/docker',
    'run',
    '--rm',
    '--name',
    'clawstack-caddy',
    '--network',
    'host',
    '-v',
    `${INSTANCE_PATHS.config}/Caddyfile:/etc/caddy/Caddyfile:ro`,
    '-v',
    `${INSTANCE_PATHS.data}/caddy:/data`,
    '-v',
    '/var/log/clawstack/caddy:/var/log/caddy',
    CADDY_IMAGE,
  ];
  return [
    {
      path: `${INSTANCE_PATHS.config}/Caddyfile`,
      permissions: '0644',
      content: renderCaddyfile({
        domain: p.domain!,
        acmeEmail: p.acmeEmail,
        adminCidrs: p.adminCidrs,
        upstream: `127.0.0.1:${api.port}`,
      }),
    },
    {
      path: '/etc/systemd/system/clawstack-caddy.service',
      permissions: '0644',
      content: render(file('container.service'), {
        name: 'clawstack-caddy',
        description: 'clawstack edge: Caddy, TLS with automatic certificates',
        after: ['clawstack-api.service'],
        execStart: systemdCommandLine(run),
        stopGraceSeconds: 30,
        timeoutStopSeconds: 45,
      }),
    },
  ];
}

function scriptFiles(edge: CloudInitParams['edge']): WriteFile[] {
  const view = { refPrefix, refSuffix, dbUser: DB_USER, dbName: DB_NAME };
  // Only these two are templates; the others go as they are (Docker's {{…}} formats stay intact).
  const templates = new Set(['clawstack-secrets', 'clawstack-pg-sync']);
  const script = (name: string, permissions = '0755') => ({
    path: `/usr/local/bin/${name}`,
    permissions,
    content: templates.has(name) ? render(file(`${name}.sh`), view) : file(`${name}.sh`),
  });
  const unit = (name: string) => ({
    path: `/etc/systemd/system/${name}`,
    permissions: '0644',
    content: file(name),
  });
  // With EC2 health checks only (no ALB), the instance watches its own api.
  const healthWatch =
    edge === 'instance'
      ? [script('clawstack-health'), unit('clawstack-health.service'), unit('clawstack-health.timer')]
      : [];
  return [
    { path: '/usr/local/lib/clawstack/imds.sh', permissions: '0644', content: file('imds.sh') },
    script('clawstack-prepare'),
    script('clawstack-secrets', '0700'),
    script('clawstack-pg-sync', '0700'),
    script('clawstack-drain'),
    script('clawstack-cleanup'),
    script('clawstack-unhealthy'),
    unit('clawstack-prepare.service'),
    unit('clawstack-unhealthy.service'),
    unit('clawstack-drain.service'),
    unit('clawstack-cleanup.service'),
    unit('clawstack-cleanup.timer'),
    ...healthWatch,
  ];
}

/** The URL template, the script that fills it from the login's secret, and its timer. */
function dbLoginFiles(p: CloudInitParams): WriteFile[] {
  if (!p.dbLogin) return [];
  return [
    {
      path: `${INSTANCE_PATHS.config}/database-url.template`,
      permissions: '0600',
      content: `${p.dbLogin.urlTemplate}\n`,
    },
    { path: '/usr/local/bin/clawstack-db-url', permissions: '0700', content: file('clawstack-db-url.sh') },
    {
      path: '/etc/systemd/system/clawstack-db-url.service',
      permissions: '0644',
      content: file('clawstack-db-url.service'),
    },
    {
      path: '/etc/systemd/system/clawstack-db-url.timer',
      permissions: '0644',
      content: file('clawstack-db-url.timer'),
    },
  ];
}

/** Renders the `#cloud-config` document for one instance of the fleet. */
export function renderCloudInit(p: CloudInitParams): string {
  const w = p.workload;
  const containers = containersOf(w);
  const images = [...new Set(containers.map((c) => c.image))].join('\n') + '\n';
  const files: WriteFile[] = [
    { path: `${INSTANCE_PATHS.config}/deploy.env`, permissions: '0644', content: deployEnv(p) },
    {
      path: `${INSTANCE_PATHS.config}/secrets.map`,
      permissions: '0600',
      content: secretsMap(w, p.secretArns),
    },
    { path: `${INSTANCE_PATHS.config}/volumes`, permissions: '0644', content: volumeDirectories(w) },
    { path: `${INSTANCE_PATHS.config}/images`, permissions: '0644', content: images },
    ...scriptFiles(p.edge),
    ...containerFiles(p),
    ...edgeFiles(p),
    ...(p.rdsCaPem ? [{ path: RDS_CA_PATH, permissions: '0644', content: p.rdsCaPem }] : []),
    ...dbLoginFiles(p),
    {
      path: AGENT_CONFIG_PATH,
      permissions: '0644',
      content: agentConfig({
        stack: w.stack,
        clusterName: p.asgName,
        logGroups: p.logGroups,
        metricsLogGroup: p.metricsLogGroup,
        gpu: !!w.tier.gpu,
      }),
    },
    { path: PROMETHEUS_CONFIG_PATH, permissions: '0644', content: prometheusConfig() },
  ];
  const units = [
    'clawstack-prepare.service',
    ...containers.map((c) => `${containerName(c.role)}.service`),
    ...(p.edge === 'instance' ? ['clawstack-caddy.service'] : []),
    'clawstack-drain.service',
    'clawstack-cleanup.timer',
    ...(p.edge === 'instance' ? ['clawstack-health.timer'] : []),
    ...(p.dbLogin ? ['clawstack-db-url.timer'] : []),
  ];
  const runcmd: string[][] = [];
  // The NVIDIA-driver AMI ships the container toolkit; register its runtime with Docker.
  if (w.tier.gpu) runcmd.push(['nvidia-ctk', 'runtime', 'configure', '--runtime=docker']);
  runcmd.push(
    ['systemctl', 'enable', '--now', 'docker.service'],
    ['systemctl', 'restart', 'docker.service'],
    [
      '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl',
      '-a',
      'fetch-config',
      '-m',
      'ec2',
      '-s',
      '-c',
      `file:${AGENT_CONFIG_PATH}`,
    ],
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', '--no-block', ...units],
  );
  const doc = {
    packages: ['docker', 'amazon-cloudwatch-agent', 'xfsprogs'],
    write_files: files,
    runcmd,
  };
  const body = stringify(doc, { lineWidth: 0, blockQuote: 'literal' });
  return `#cloud-config\n# clawstack ${w.stack}: generated by infra/targets/aws/cloud-init.ts — do not edit on the instance.\n${body}`;
}
