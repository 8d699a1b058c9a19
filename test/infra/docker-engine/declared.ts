/**
 * The Docker target's declared resources (recorded under Pulumi's mocks) as `docker` CLI commands, so
 * the real-engine test runs exactly what the program declares: nothing here adds or changes a setting;
 * a setting the CLI cannot express is an error, not silently dropped.
 */
import type { ProgramRun, RecordedResource } from '../../../scripts/plan/harness.ts';

interface ContainerInputs {
  name: string;
  image: string;
  command?: string[];
  envs?: string[];
  networksAdvanced?: { name: string; aliases?: string[] }[];
  ports?: { internal: number; external: number; ip: string; protocol: string }[];
  healthcheck?: { tests: string[]; interval: string; timeout: string; retries: number; startPeriod?: string };
  volumes?: { volumeName: string; containerPath: string }[];
  tmpfs?: Record<string, string>;
  cpus?: string;
  cpuShares?: number;
  memory?: number;
  memorySwap?: number;
  deviceRequests?: { driver: string; count: number; capabilities: string[] }[];
  user?: string;
  readOnly?: boolean;
  restart?: string;
  stopSignal?: string;
  stopTimeout?: number;
  labels?: { label: string; value: string }[];
  uploads?: unknown[];
}

/** Single-quotes an argument for /bin/sh (Docker's CMD-SHELL form of a health check). */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A health check in the CLI's terms; the exec form becomes a quoted shell line with the same argv. */
function healthArgs(h: NonNullable<ContainerInputs['healthcheck']>): string[] {
  const [kind, ...argv] = h.tests;
  if (kind !== 'CMD') throw new Error(`health check form ${kind} is not handled`);
  return [
    '--health-cmd',
    argv.map(shellQuote).join(' '),
    '--health-interval',
    h.interval,
    '--health-timeout',
    h.timeout,
    '--health-retries',
    String(h.retries),
    ...(h.startPeriod ? ['--health-start-period', h.startPeriod] : []),
  ];
}

/**
 * `docker create` arguments for a declared container, and its environment as an env-file (so the
 * secret values are not on a command line). Device requests become `--gpus count=N`.
 */
export function createArgs(r: RecordedResource): { args: string[]; envFile: string } {
  const i = r.inputs as unknown as ContainerInputs;
  if (i.uploads?.length) throw new Error(`${r.name}: uploads are not handled by the engine test`);
  const nets = i.networksAdvanced ?? [];
  if (nets.length > 1) throw new Error(`${r.name}: more than one network`);
  const args = [
    '--name',
    i.name,
    ...nets.flatMap((n) => [
      '--network',
      n.name,
      ...(n.aliases ?? []).flatMap((a) => ['--network-alias', a]),
    ]),
    ...(i.ports ?? []).flatMap((p) => ['-p', `${p.ip}:${p.external}:${p.internal}/${p.protocol}`]),
    ...(i.healthcheck ? healthArgs(i.healthcheck) : []),
    ...(i.volumes ?? []).flatMap((v) => ['-v', `${v.volumeName}:${v.containerPath}`]),
    ...Object.entries(i.tmpfs ?? {}).flatMap(([path, opts]) => ['--tmpfs', `${path}:${opts}`]),
    ...(i.cpus ? ['--cpus', i.cpus] : []),
    ...(i.cpuShares ? ['--cpu-shares', String(i.cpuShares)] : []),
    ...(i.memory ? ['--memory', `${i.memory}m`] : []),
    ...(i.memorySwap ? ['--memory-swap', `${i.memorySwap}m`] : []),
    ...(i.deviceRequests ?? []).flatMap((d) => ['--gpus', `count=${d.count}`]),
    ...(i.user ? ['--user', i.user] : []),
    ...(i.readOnly ? ['--read-only'] : []),
    ...(i.restart ? ['--restart', i.restart] : []),
    ...(i.stopSignal ? ['--stop-signal', i.stopSignal] : []),
    ...(i.stopTimeout !== undefined ? ['--stop-timeout', String(i.stopTimeout)] : []),
    ...(i.labels ?? []).flatMap((l) => ['--label', `${l.label}=${l.value}`]),
    i.image,
    ...(i.command ?? []),
  ];
  return { args, envFile: (i.envs ?? []).map((l) => `${l}\n`).join('') };
}

const labelArgs = (r: RecordedResource) =>
  ((r.inputs.labels ?? []) as { label: string; value: string }[]).flatMap((l) => [
    '--label',
    `${l.label}=${l.value}`,
  ]);

/** `docker network create` / `docker volume create` arguments for the declared network and volumes. */
export function networkArgs(r: RecordedResource): string[] {
  return ['--driver', String(r.inputs.driver ?? 'bridge'), ...labelArgs(r), String(r.inputs.name)];
}
export function volumeArgs(r: RecordedResource): string[] {
  return [...labelArgs(r), String(r.inputs.name)];
}

/** The image build the program declares: `docker build` arguments (legacy builder). */
export function buildArgs(run: ProgramRun): { tag: string; args: string[] } | undefined {
  const image = run.resources.find((r) => r.type === 'docker:index/image:Image');
  if (!image) return undefined;
  const b = image.inputs.build as {
    context: string;
    dockerfile: string;
    network?: string;
    platform?: string;
  };
  const tag = String(image.inputs.imageName);
  return {
    tag,
    args: [
      '-f',
      b.dockerfile,
      ...(b.network ? ['--network', b.network] : []),
      ...(b.platform ? ['--platform', b.platform] : []),
      '-t',
      tag,
      b.context,
    ],
  };
}
