/**
 * The instance's cloud-init user-data: containers under systemd, secrets fetched at boot,
 * CloudWatch agent, spot/scale-in drain agent, daily cleanup timer.
 *
 * Pure: takes resolved values, returns the `#cloud-config` text (validated by `cloud-init schema`
 * in test/infra). Secrets never appear here, only their ARNs.
 */
import { renderCaddyfile } from '../../edge/caddy.ts';
import { SECRET_PLACEHOLDERS } from '../../workload/app-env.ts';
import { APP_PORT } from './network.ts';

export interface CloudInitParams {
  stack: string;
  region: string;
  /** Image reference (the CUDA build on tier gpu). */
  image: string;
  /** Validated app environment with secret placeholders (see SECRET_PLACEHOLDERS). */
  appEnv: Record<string, string>;
  gpu: boolean;
  /** `instance`: Caddy terminates TLS here and the instance holds the Elastic IP. */
  edge: 'alb' | 'instance';
  domain?: string;
  acmeEmail?: string;
  /** Admin (metrics) listener on the instance edge when non-empty. */
  adminCidrs: string[];
  eipAllocationId?: string;
  colocated: boolean;
  dataVolumeId?: string;
  secretArns: { dbPassword: string; redisAuth: string; bootstrapApiKey: string };
  bucket: string;
  logPrefix: string;
  logGroups: {
    api: string;
    worker: string;
    system: string;
    edge?: string;
    postgres?: string;
    redis?: string;
  };
  asgName: string;
  drainHookName: string;
  targetGroupArn?: string;
  /** Seconds `docker stop` waits after SIGTERM before SIGKILL. */
  stopGraceSeconds: number;
  /** Each app container's CPU ceiling (millicores) and memory limit (MiB), from the tier. */
  processLimits: { cpuLimitMillis: number; memoryMiB: number };
  localLogDays: number;
}

// ---------------------------------------------------------------------------------------------
// A small YAML writer: double-quoted scalars, block literals for multi-line text.

type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml | undefined };

function scalar(v: string | number | boolean): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function literal(text: string, pad: string): string[] {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => (line === '' ? '' : pad + line));
}

function entry(key: string, value: Yaml, pad: string): string[] {
  if (typeof value === 'string' && value.includes('\n'))
    return [`${pad}${key}: |`, ...literal(value, pad + '  ')];
  if (Array.isArray(value))
    return value.length ? [`${pad}${key}:`, ...sequence(value, pad + '  ')] : [`${pad}${key}: []`];
  if (typeof value === 'object') return [`${pad}${key}:`, ...mapping(value, pad + '  ')];
  return [`${pad}${key}: ${scalar(value)}`];
}

function mapping(obj: { [key: string]: Yaml | undefined }, pad: string): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v === undefined ? [] : entry(k, v, pad)));
}

function sequence(items: Yaml[], pad: string): string[] {
  return items.flatMap((item) => {
    if (Array.isArray(item)) return [`${pad}- [${item.map((x) => scalar(x as string)).join(', ')}]`];
    if (typeof item === 'object') {
      const lines = mapping(item, pad + '  ');
      return lines.map((l, i) => (i === 0 ? `${pad}- ${l.slice(pad.length + 2)}` : l));
    }
    if (typeof item === 'string' && item.includes('\n')) return [`${pad}- |`, ...literal(item, pad + '  ')];
    return [`${pad}- ${scalar(item)}`];
  });
}

// ---------------------------------------------------------------------------------------------

const IMDS = `# IMDSv2 helper (the launch template requires tokens).
imds() {
  local token
  token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) || return 1
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
`;

const PREPARE = `#!/bin/bash
# Before any container starts: data volume, Elastic IP, secrets, docker network, image.
set -euo pipefail
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
id=$(imds instance-id)
if [ -n "\${DATA_VOLUME_ID:-}" ]; then
  # The volume outlives instances; wait until the previous holder has released it.
  for i in $(seq 1 60); do
    holder=$(aws ec2 describe-volumes --region "$AWS_REGION" --volume-ids "$DATA_VOLUME_ID" --query 'Volumes[0].Attachments[0].InstanceId' --output text)
    [ "$holder" = "$id" ] && break
    aws ec2 attach-volume --region "$AWS_REGION" --volume-id "$DATA_VOLUME_ID" --instance-id "$id" --device /dev/sdf >/dev/null 2>&1 || true
    sleep 5
  done
  dev=""
  for i in $(seq 1 60); do
    dev=$(ls /dev/disk/by-id/*"\${DATA_VOLUME_ID/-/}" 2>/dev/null | head -n1 || true)
    [ -n "$dev" ] && break
    sleep 2
  done
  [ -n "$dev" ] || { echo "data volume $DATA_VOLUME_ID did not appear" >&2; exit 1; }
  blkid "$dev" >/dev/null || mkfs.xfs "$dev"
  mkdir -p /var/lib/clawstack
  mountpoint -q /var/lib/clawstack || mount -o noatime "$dev" /var/lib/clawstack
fi
if [ -n "\${EIP_ALLOCATION_ID:-}" ]; then
  aws ec2 associate-address --region "$AWS_REGION" --allocation-id "$EIP_ALLOCATION_ID" --instance-id "$id" --allow-reassociation >/dev/null
fi
/usr/local/bin/clawstack-secrets
docker network inspect clawstack >/dev/null 2>&1 || docker network create clawstack >/dev/null
for i in 1 2 3 4 5; do docker pull -q "$IMAGE" && break; sleep 10; done
`;

const SECRETS = `#!/bin/bash
# Fetches credentials from Secrets Manager into root-only files on tmpfs (/run).
# Substitution uses bash expansion, so secret values never appear on a command line.
set -euo pipefail
. /etc/clawstack/deploy.env
get() { aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" --query SecretString --output text; }
umask 077
mkdir -p /run/clawstack
db=$(get "$DB_PASSWORD_SECRET")
redis=$(get "$REDIS_AUTH_SECRET")
key=$(get "$API_KEY_SECRET")
env=$(cat /etc/clawstack/app.env)
env=\${env//${SECRET_PLACEHOLDERS.dbPassword}/$db}
env=\${env//${SECRET_PLACEHOLDERS.redisAuth}/$redis}
env=\${env//${SECRET_PLACEHOLDERS.bootstrapApiKey}/$key}
printf '%s\\n' "$env" > /run/clawstack/app.env
if [ "$COLOCATED" = true ]; then
  printf 'POSTGRES_USER=clawstack\\nPOSTGRES_DB=clawstack\\nPOSTGRES_PASSWORD=%s\\n' "$db" > /run/clawstack/postgres.env
  printf 'requirepass %s\\nappendonly yes\\nmaxmemory-policy noeviction\\ndir /data\\n' "$redis" > /run/clawstack/redis.conf
  chown 999:999 /run/clawstack/redis.conf  # the redis image's user
fi
`;

const PG_SYNC = `#!/bin/bash
# Sets the co-located Postgres password to the current secret (it may have rotated since the
# volume was initialised). Runs over the container's local socket; the value goes through stdin.
set -euo pipefail
for i in $(seq 1 60); do docker exec clawstack-postgres pg_isready -q -U clawstack && break; sleep 2; done
pw=$(sed -n 's/^POSTGRES_PASSWORD=//p' /run/clawstack/postgres.env)
printf "ALTER USER clawstack PASSWORD '%s';\\n" "$pw" | docker exec -i clawstack-postgres psql -q -U clawstack -d clawstack
`;

const DRAIN = `#!/bin/bash
# Drains the app when EC2 announces a spot interruption (two minutes' notice) or Auto Scaling
# marks this instance for termination (scale-in, rebalance, refresh): leave the target group,
# SIGTERM the containers (the app drains within DRAIN_TIMEOUT_MS), then let termination go on.
set -u
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
while sleep 5; do
  notice=""
  imds spot/instance-action >/dev/null 2>&1 && notice=spot
  [ "$(imds autoscaling/target-lifecycle-state 2>/dev/null)" = Terminated ] && notice=autoscaling
  [ -z "$notice" ] && continue
  id=$(imds instance-id)
  logger -t clawstack-drain "$notice termination notice: draining (grace \${STOP_GRACE_SECONDS}s)"
  if [ -n "\${TARGET_GROUP_ARN:-}" ]; then
    aws elbv2 deregister-targets --region "$AWS_REGION" --target-group-arn "$TARGET_GROUP_ARN" --targets "Id=$id" || true
  fi
  systemctl stop clawstack-api.service clawstack-worker.service
  aws autoscaling complete-lifecycle-action --region "$AWS_REGION" --auto-scaling-group-name "$ASG_NAME" \\
    --lifecycle-hook-name "$DRAIN_HOOK" --instance-id "$id" --lifecycle-action-result CONTINUE || true
  exit 0
done
`;

const CLEANUP = `#!/bin/bash
# Daily: archive local logs older than LOCAL_LOG_DAYS to S3 (then delete them), trim the journal,
# temp files, stopped containers and unused images.
set -u
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
id=$(imds instance-id)
mkdir -p /var/log/clawstack
find /var/log/clawstack -type f -mtime +"$LOCAL_LOG_DAYS" ! -name '*.gz' -exec gzip -f {} \\;
find /var/log/clawstack -type f -name '*.gz' -print0 | while IFS= read -r -d '' f; do
  aws s3 cp --only-show-errors "$f" "s3://$BUCKET/$LOG_PREFIX$STACK/$id/\${f#/var/log/clawstack/}" && rm -f "$f"
done
journalctl --vacuum-time="\${LOCAL_LOG_DAYS}d" >/dev/null
find /tmp /var/tmp -xdev -type f -atime +2 -delete 2>/dev/null || true
docker container prune -f >/dev/null
docker image prune -af --filter until=168h >/dev/null
`;

function envFile(vars: Record<string, string | number | boolean | undefined>): string {
  return (
    Object.entries(vars)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n') + '\n'
  );
}

interface ContainerUnit {
  name: string;
  description: string;
  after: string[];
  run: string;
  stopGrace?: number;
  execStartPost?: string;
}

function unit(u: ContainerUnit): string {
  const grace = u.stopGrace ?? 30;
  return `[Unit]
Description=${u.description}
After=${['docker.service', 'clawstack-prepare.service', ...u.after].join(' ')}
Requires=docker.service clawstack-prepare.service

[Service]
Restart=always
RestartSec=5
TimeoutStopSec=${grace + 15}
ExecStartPre=-/usr/bin/docker rm -f ${u.name}
ExecStart=${u.run}
${u.execStartPost ? `ExecStartPost=${u.execStartPost}\n` : ''}ExecStop=/usr/bin/docker stop --time ${grace} ${u.name}

[Install]
WantedBy=multi-user.target
`;
}

function awslogs(p: CloudInitParams, group: string, stream: string): string {
  return `--log-driver awslogs --log-opt awslogs-region=${p.region} --log-opt awslogs-group=${group} --log-opt awslogs-stream=%H-${stream}`;
}

function agentConfig(p: CloudInitParams): string {
  const files = [
    {
      file_path: '/var/log/cloud-init-output.log',
      log_group_name: p.logGroups.system,
      log_stream_name: '{instance_id}/cloud-init',
    },
  ];
  if (p.logGroups.edge)
    files.push({
      file_path: '/var/log/clawstack/caddy/access.log',
      log_group_name: p.logGroups.edge,
      log_stream_name: '{instance_id}/access',
    });
  const metrics: Record<string, unknown> = {
    mem: { measurement: ['mem_available', 'mem_used_percent'] },
    disk: { measurement: ['used_percent'], resources: ['/'] },
  };
  if (p.gpu) metrics.nvidia_gpu = { measurement: ['utilization_gpu', 'memory_used', 'memory_total'] };
  return (
    JSON.stringify(
      {
        agent: { metrics_collection_interval: 60, run_as_user: 'root' },
        metrics: {
          namespace: 'CWAgent',
          append_dimensions: {
            AutoScalingGroupName: '${aws:AutoScalingGroupName}',
            InstanceId: '${aws:InstanceId}',
          },
          aggregation_dimensions: [['AutoScalingGroupName']],
          metrics_collected: metrics,
        },
        logs: { logs_collected: { files: { collect_list: files } } },
      },
      null,
      1,
    ) + '\n'
  );
}

/** Renders the `#cloud-config` document for one instance of the fleet. */
export function renderCloudInit(p: CloudInitParams): string {
  const gpuFlag = p.gpu ? ' --gpus all' : '';
  const limits = ` --cpus ${p.processLimits.cpuLimitMillis / 1000} --memory ${p.processLimits.memoryMiB}m`;
  const dataUnits = p.colocated ? ['clawstack-postgres.service', 'clawstack-redis.service'] : [];
  const dataDir = '/var/lib/clawstack';
  const publish = p.edge === 'instance' ? `127.0.0.1:${APP_PORT}:${APP_PORT}` : `${APP_PORT}:${APP_PORT}`;
  const app = (role: 'api' | 'worker') =>
    unit({
      name: `clawstack-${role}`,
      description: `clawstack ${role} (container)`,
      after: dataUnits,
      stopGrace: p.stopGraceSeconds,
      run:
        `/usr/bin/docker run --rm --name clawstack-${role} --network clawstack${role === 'api' ? ` -p ${publish}` : ''}${gpuFlag}${limits}` +
        ` --env-file /run/clawstack/app.env -e CLAWSTACK_ROLE=${role} --stop-timeout ${p.stopGraceSeconds}` +
        ` ${awslogs(p, role === 'api' ? p.logGroups.api : p.logGroups.worker, role)} ${p.image}`,
    });

  const files: { path: string; content: string; permissions: string; owner?: string }[] = [
    {
      path: '/etc/clawstack/deploy.env',
      permissions: '0644',
      content: envFile({
        STACK: p.stack,
        AWS_REGION: p.region,
        IMAGE: p.image,
        BUCKET: p.bucket,
        LOG_PREFIX: p.logPrefix,
        ASG_NAME: p.asgName,
        DRAIN_HOOK: p.drainHookName,
        STOP_GRACE_SECONDS: p.stopGraceSeconds,
        TARGET_GROUP_ARN: p.targetGroupArn,
        DATA_VOLUME_ID: p.dataVolumeId,
        EIP_ALLOCATION_ID: p.eipAllocationId,
        DB_PASSWORD_SECRET: p.secretArns.dbPassword,
        REDIS_AUTH_SECRET: p.secretArns.redisAuth,
        API_KEY_SECRET: p.secretArns.bootstrapApiKey,
        COLOCATED: p.colocated,
        LOCAL_LOG_DAYS: p.localLogDays,
      }),
    },
    // Placeholders only; clawstack-secrets writes the real file to /run/clawstack/app.env (0600).
    { path: '/etc/clawstack/app.env', permissions: '0644', content: envFile(p.appEnv) },
    { path: '/usr/local/lib/clawstack/imds.sh', permissions: '0644', content: IMDS },
    { path: '/usr/local/bin/clawstack-prepare', permissions: '0755', content: PREPARE },
    { path: '/usr/local/bin/clawstack-secrets', permissions: '0700', content: SECRETS },
    { path: '/usr/local/bin/clawstack-drain', permissions: '0755', content: DRAIN },
    { path: '/usr/local/bin/clawstack-cleanup', permissions: '0755', content: CLEANUP },
    {
      path: '/etc/systemd/system/clawstack-prepare.service',
      permissions: '0644',
      content: `[Unit]
Description=clawstack: data volume, Elastic IP, secrets, image
Wants=network-online.target
After=docker.service network-online.target
Requires=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/clawstack-prepare

[Install]
WantedBy=multi-user.target
`,
    },
    { path: '/etc/systemd/system/clawstack-api.service', permissions: '0644', content: app('api') },
    { path: '/etc/systemd/system/clawstack-worker.service', permissions: '0644', content: app('worker') },
    {
      path: '/etc/systemd/system/clawstack-drain.service',
      permissions: '0644',
      content: `[Unit]
Description=clawstack: drain on spot interruption or Auto Scaling termination
After=clawstack-api.service

[Service]
ExecStart=/usr/local/bin/clawstack-drain
Restart=on-failure

[Install]
WantedBy=multi-user.target
`,
    },
    {
      path: '/etc/systemd/system/clawstack-cleanup.service',
      permissions: '0644',
      content: `[Unit]
Description=clawstack: archive old logs, clean temp files and images

[Service]
Type=oneshot
ExecStart=/usr/local/bin/clawstack-cleanup
`,
    },
    {
      path: '/etc/systemd/system/clawstack-cleanup.timer',
      permissions: '0644',
      content: `[Unit]
Description=clawstack: daily cleanup

[Timer]
OnCalendar=daily
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target
`,
    },
    {
      path: '/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json',
      permissions: '0644',
      content: agentConfig(p),
    },
  ];

  const units = [
    'clawstack-prepare.service',
    ...dataUnits,
    'clawstack-api.service',
    'clawstack-worker.service',
    'clawstack-drain.service',
    'clawstack-cleanup.timer',
  ];

  if (p.colocated && p.logGroups.postgres && p.logGroups.redis) {
    files.push(
      { path: '/usr/local/bin/clawstack-pg-sync', permissions: '0700', content: PG_SYNC },
      {
        path: '/etc/systemd/system/clawstack-postgres.service',
        permissions: '0644',
        content: unit({
          name: 'clawstack-postgres',
          description: 'clawstack postgres (co-located, data on the EBS data volume)',
          after: [],
          run: `/usr/bin/docker run --rm --name clawstack-postgres --network clawstack --env-file /run/clawstack/postgres.env -v ${dataDir}/postgres:/var/lib/postgresql/data ${awslogs(p, p.logGroups.postgres, 'postgres')} postgres:16-alpine`,
          execStartPost: '/usr/local/bin/clawstack-pg-sync',
        }),
      },
      {
        path: '/etc/systemd/system/clawstack-redis.service',
        permissions: '0644',
        content: unit({
          name: 'clawstack-redis',
          description: 'clawstack redis (co-located, AOF on the EBS data volume)',
          after: [],
          run: `/usr/bin/docker run --rm --name clawstack-redis --network clawstack -v /run/clawstack/redis.conf:/usr/local/etc/redis/redis.conf:ro -v ${dataDir}/redis:/data ${awslogs(p, p.logGroups.redis, 'redis')} redis:7-alpine redis-server /usr/local/etc/redis/redis.conf`,
        }),
      },
    );
  }
  if (p.edge === 'instance' && p.logGroups.edge) {
    files.push(
      {
        path: '/etc/clawstack/Caddyfile',
        permissions: '0644',
        content: renderCaddyfile({
          domain: p.domain!,
          acmeEmail: p.acmeEmail,
          adminCidrs: p.adminCidrs,
          upstream: `127.0.0.1:${APP_PORT}`,
        }),
      },
      {
        path: '/etc/systemd/system/clawstack-caddy.service',
        permissions: '0644',
        content: unit({
          name: 'clawstack-caddy',
          description: 'clawstack edge: Caddy, TLS with automatic certificates',
          after: ['clawstack-api.service'],
          run: `/usr/bin/docker run --rm --name clawstack-caddy --network host -v /etc/clawstack/Caddyfile:/etc/caddy/Caddyfile:ro -v /var/lib/clawstack/caddy:/data -v /var/log/clawstack/caddy:/var/log/caddy caddy:2`,
        }),
      },
    );
    units.push('clawstack-caddy.service');
  }

  const runcmd: Yaml[] = [];
  if (p.gpu) {
    // The NVIDIA-driver AMI ships the container toolkit; register its runtime with Docker.
    runcmd.push(['nvidia-ctk', 'runtime', 'configure', '--runtime=docker']);
  }
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
      'file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json',
    ],
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', '--no-block', ...units],
  );

  const doc: { [key: string]: Yaml } = {
    packages: ['docker', 'amazon-cloudwatch-agent', 'xfsprogs'],
    write_files: files,
    runcmd,
  };
  return `#cloud-config\n# clawstack ${p.stack}: generated by infra/aws/cloud-init.ts — do not edit on the instance.\n${mapping(doc, '').join('\n')}\n`;
}
