/**
 * Runs the real Pulumi program (infra/index.ts) under Pulumi's mocks and records every resource
 * it registers: type, name, parent, inputs. Used by the offline plan and by test/infra.
 *
 * No cloud credentials and no Pulumi CLI are involved. The mocks answer the provider functions the
 * program calls (AZs, region, AMI parameters) and throw on any other, so a new lookup cannot pass
 * silently; each resource gets plausible placeholder outputs (ids, ARNs, DNS names).
 *
 * Pulumi's runtime is process-global: runs are sequential (one at a time per process). Each run
 * resets the mocks and config and re-evaluates infra/index.ts (fresh module URL); the modules it
 * imports are shared and must not keep state (they do not: no module-level side effects).
 */
import * as pulumi from '@pulumi/pulumi';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const PROJECT = 'clawstack';
const PROGRAM = pathToFileURL(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../infra/index.ts'),
).href;

export interface RecordedResource {
  type: string;
  name: string;
  urn: string;
  /** The id the mocked provider returned (placeholder; lets rules match `bucket: bucket.id`). */
  id?: string;
  /** URN of the parent resource (the stack for top-level components). */
  parent?: string;
  /** Component resources are not custom (they group children). */
  custom: boolean;
  /** Inputs as the provider would receive them (secrets unwrapped, outputs resolved). */
  inputs: Record<string, unknown>;
  /** Paths of inputs that are Pulumi secrets (e.g. `password`). */
  secrets: string[];
  /** Resource options the engine would see: `ignoreChanges`, the URNs it waits for (`dependsOn`, expanded), `protect`. */
  options: { ignoreChanges: string[]; dependsOn: string[]; protect?: boolean };
}

export interface RecordedInvoke {
  token: string;
  inputs: Record<string, unknown>;
}

export interface ProgramRun {
  /** Registered resources in registration order (the stack resource excluded). */
  resources: RecordedResource[];
  invokes: RecordedInvoke[];
  /** Resolved stack outputs; empty when the program failed. */
  outputs: Record<string, unknown>;
  /** Names of the stack outputs that are Pulumi secrets (shown only with `--show-secrets`). */
  secretOutputs: string[];
  /** The first error the program raised (e.g. a StackConfigError), if any. */
  error?: Error;
}

export const MOCK_ACCOUNT = '123456789012';
/** Every generated secret value (random passwords) under the mocks starts with this. */
export const MOCK_SECRET_MARKER = 'MOCKSECRET';
/** The AMI ids the mocked public SSM parameters return, by parameter name. */
export const MOCK_AMIS: Record<string, string> = {
  '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64': 'ami-0a12023c0ffee0001',
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id':
    'ami-0dd1a0b1d1a000002',
};

function shortHash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Placeholder outputs a real provider would return, per resource type. */
function mockState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
): { id: string; state: Record<string, unknown> } {
  const h = shortHash(`${type}/${name}`);
  const service = type.split(':')[1]?.split('/')[0] ?? 'x';
  const id = `${name}-${h}`;
  const state: Record<string, unknown> = {
    ...inputs,
    arn: `arn:aws:${service}:${region}:${MOCK_ACCOUNT}:${name}`,
    name: inputs.name ?? `${name}-${h.slice(0, 7)}`,
  };
  if (type.startsWith('kubernetes:')) {
    // The provider auto-names an object without metadata.name: `<resource name>-<random suffix>`.
    const metadata = (inputs.metadata ?? {}) as Record<string, unknown>;
    const objectName = (metadata.name as string | undefined) ?? `${name}-${h.slice(0, 8)}`;
    const ns = metadata.namespace as string | undefined;
    return {
      id: ns ? `${ns}/${objectName}` : objectName,
      state: {
        ...inputs,
        metadata: { ...metadata, name: objectName, uid: `${h}-0000-4000-8000-000000000000` },
      },
    };
  }
  switch (type) {
    case 'aws:s3/bucket:Bucket': {
      const bucket = (inputs.bucket as string | undefined) ?? `${name}-${h}`;
      return { id: bucket, state: { ...state, bucket, arn: `arn:aws:s3:::${bucket}` } };
    }
    case 'aws:lb/loadBalancer:LoadBalancer':
      return {
        id,
        state: {
          ...state,
          dnsName: `${name}-${h}.${region}.elb.amazonaws.com`,
          zoneId: 'Z35SXDOTRQ7X7K',
          arnSuffix: `app/${name}/${h}`,
        },
      };
    case 'aws:lb/targetGroup:TargetGroup':
      return { id, state: { ...state, arnSuffix: `targetgroup/${name}/${h}` } };
    case 'aws:acm/certificate:Certificate': {
      const domain = String(inputs.domainName);
      return {
        id,
        state: {
          ...state,
          arn: `arn:aws:acm:${region}:${MOCK_ACCOUNT}:certificate/${h}-0000-4000-8000-000000000000`,
          domainValidationOptions: [
            {
              domainName: domain,
              resourceRecordName: `_${h}.${domain}.`,
              resourceRecordType: 'CNAME',
              resourceRecordValue: `_${h}.acm-validations.aws.`,
            },
          ],
        },
      };
    }
    case 'aws:acm/certificateValidation:CertificateValidation':
      return { id, state: { ...state, certificateArn: inputs.certificateArn } };
    case 'aws:route53/record:Record':
      return { id, state: { ...state, fqdn: inputs.name } };
    case 'aws:ec2/eip:Eip':
      return {
        id: `eipalloc-${h}`,
        state: {
          ...state,
          publicIp: `203.0.113.${parseInt(h.slice(0, 2), 16) % 250}`,
          allocationId: `eipalloc-${h}`,
          arn: `arn:aws:ec2:${region}:${MOCK_ACCOUNT}:elastic-ip/eipalloc-${h}`,
        },
      };
    case 'aws:ebs/volume:Volume':
      return {
        id: `vol-0${h}${h.slice(0, 8)}`,
        state: { ...state, arn: `arn:aws:ec2:${region}:${MOCK_ACCOUNT}:volume/vol-0${h}${h.slice(0, 8)}` },
      };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { id: `lt-0${h}`, state: { ...state, latestVersion: 1, defaultVersion: 1 } };
    case 'aws:rds/instance:Instance':
      return {
        id,
        state: {
          ...state,
          identifier: inputs.identifier ?? `${name}-${h.slice(0, 7)}`,
          address: `${name}.${h}.${region}.rds.amazonaws.com`,
          endpoint: `${name}.${h}.${region}.rds.amazonaws.com:5432`,
        },
      };
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return {
        id,
        state: {
          ...state,
          primaryEndpointAddress: `master.${String(inputs.replicationGroupId)}.${h}.cache.amazonaws.com`,
        },
      };
    case 'random:index/randomPassword:RandomPassword': {
      const length = Number(inputs.length ?? 32);
      // Distinct per resource, with a marker, so tests can search declared resources for it.
      const result = `${MOCK_SECRET_MARKER}${h}`.padEnd(length, 'x').slice(0, Math.max(length, 22));
      return { id, state: { ...state, result, bcryptHash: 'mock' } };
    }
    case 'docker:index/remoteImage:RemoteImage':
      // The engine's image id; the mocks keep the reference so a run can be replayed on an engine.
      return { id, state: { ...state, imageId: inputs.name, repoDigest: inputs.name } };
    case 'aws:cloudwatch/dashboard:Dashboard':
      return {
        id,
        state: {
          ...state,
          dashboardArn: `arn:aws:cloudwatch::${MOCK_ACCOUNT}:dashboard/${String(inputs.dashboardName)}`,
        },
      };
    case 'aws:eks/cluster:Cluster':
      return {
        id: String(state.name),
        state: {
          ...state,
          arn: `arn:aws:eks:${region}:${MOCK_ACCOUNT}:cluster/${String(state.name)}`,
          endpoint: `https://${h.toUpperCase()}0000.gr7.${region}.eks.amazonaws.com`,
          certificateAuthority: { data: Buffer.from(`mock CA of ${name}`).toString('base64') },
          vpcConfig: { ...(inputs.vpcConfig as object), clusterSecurityGroupId: `sg-0${h}` },
          status: 'ACTIVE',
        },
      };
    case 'aws:kms/key:Key':
      return {
        id: `${h}-0000-4000-8000-000000000000`,
        state: {
          ...state,
          keyId: `${h}-0000-4000-8000-000000000000`,
          arn: `arn:aws:kms:${region}:${MOCK_ACCOUNT}:key/${h}-0000-4000-8000-000000000000`,
        },
      };
    case 'aws:iam/role:Role':
      return { id, state: { ...state, arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${String(state.name)}` } };
    default:
      return { id, state };
  }
}

/** The provider functions the program may call; anything else is an error. */
function mockCall(token: string, inputs: Record<string, unknown>, region: string): Record<string, unknown> {
  switch (token) {
    case 'aws:index/getAvailabilityZones:getAvailabilityZones':
      return {
        id: region,
        names: [`${region}a`, `${region}b`, `${region}c`],
        zoneIds: ['use1-az1', 'use1-az2', 'use1-az4'],
        groupNames: [region],
      };
    case 'aws:index/getRegion:getRegion':
      return {
        id: region,
        name: region,
        region,
        endpoint: `ec2.${region}.amazonaws.com`,
        description: region,
      };
    case 'aws:index/getCallerIdentity:getCallerIdentity':
      return {
        id: MOCK_ACCOUNT,
        accountId: MOCK_ACCOUNT,
        arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/mock`,
        userId: 'MOCK',
      };
    case 'aws:ssm/getParameter:getParameter': {
      const name = String(inputs.name);
      const value = MOCK_AMIS[name];
      if (!value) throw new Error(`offline mocks: no value for SSM parameter ${name}`);
      return {
        id: name,
        name,
        value,
        insecureValue: value,
        type: 'String',
        version: 1,
        arn: `arn:aws:ssm:${region}::parameter${name}`,
      };
    }
    default:
      throw new Error(
        `offline mocks: unexpected provider function ${token} (add it to scripts/plan/harness.ts)`,
      );
  }
}

const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const SECRET_VALUE = '1b47061264138c4ac30d75fd1eb44270';
const isSecret = (v: unknown): v is { value: unknown } =>
  !!v && typeof v === 'object' && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;

/**
 * A deep copy without functions or class prototypes (assets and archives become their data) and
 * with Pulumi secrets unwrapped; the dotted paths of secret values are collected in `secrets`.
 */
function plain(value: unknown, secrets: string[] = [], at = ''): unknown {
  if (isSecret(value)) {
    secrets.push(at);
    return plain(value.value, secrets, at);
  }
  if (Array.isArray(value)) return value.map((v, i) => plain(v, secrets, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      if (typeof v !== 'function') out[k] = plain(v, secrets, at ? `${at}.${k}` : k);
    return out;
  }
  return value;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getIgnorechangesList?(): string[];
  getDependenciesList?(): string[];
  getProtect?(): boolean;
}
interface MonitorLike {
  registerResource(req: RegisterRequest, cb: unknown): unknown;
  newUrn(parent: string, type: string, name: string): string;
}

let runs = 0;
const RUN_TIMEOUT_MS = 30_000;
let active: { errors: Error[] } | undefined;
let lastError: Error | undefined;
process.on('unhandledRejection', (reason) => {
  const error = reason instanceof Error ? reason : new Error(String(reason));
  if (active) active.errors.push(error);
  // A failed program leaves a few rejected promises behind (outputs of the failed stack); they
  // repeat the error the run already returned. Anything else is a real bug and is rethrown.
  else if (!(lastError && error.message === lastError.message)) throw error;
});

/**
 * Runs infra/index.ts with `config` (keys with or without the `clawstack:` prefix; values as
 * strings, or anything JSON-serialisable for structured config) under mocks.
 */
export async function runProgram(
  config: Record<string, unknown>,
  options: {
    stack?: string;
    /** Keys (as in `config`) to mark as set with `pulumi config set --secret`. */
    secretKeys?: string[];
  } = {},
): Promise<ProgramRun> {
  const stack = options.stack ?? 'test';
  const full: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    full[key.includes(':') ? key : `${PROJECT}:${key}`] =
      typeof value === 'string' ? value : JSON.stringify(value);
  }
  const region = full['aws:region'] ?? 'us-east-1';

  const resources: RecordedResource[] = [];
  const invokes: RecordedInvoke[] = [];
  const parents = new Map<
    string,
    { parent: string; urn: string; ignoreChanges: string[]; dependsOn: string[]; protect?: boolean }
  >();
  const current = { errors: [] as Error[] };
  active = current;

  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const meta = parents.get(`${args.type}::${args.name}`);
        const secrets: string[] = [];
        const inputs = plain(args.inputs ?? {}, secrets) as Record<string, unknown>;
        if (args.type !== 'pulumi:pulumi:Stack') {
          resources.push({
            type: args.type,
            name: args.name,
            urn: meta?.urn ?? '',
            parent: meta?.parent || undefined,
            custom: args.custom ?? true,
            inputs,
            secrets,
            options: {
              ignoreChanges: meta?.ignoreChanges ?? [],
              dependsOn: meta?.dependsOn ?? [],
              ...(meta?.protect ? { protect: true } : {}),
            },
          });
        }
        try {
          const result = mockState(args.type, args.name, inputs, region);
          const recorded = resources.at(-1);
          if (recorded && args.type !== 'pulumi:pulumi:Stack') recorded.id = result.id;
          return result;
        } catch (e) {
          current.errors.push(e instanceof Error ? e : new Error(String(e)));
          throw e;
        }
      },
      call(args: pulumi.runtime.MockCallArgs) {
        invokes.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        return mockCall(args.token, args.inputs as Record<string, unknown>, region);
      },
    },
    PROJECT,
    stack,
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    parents.set(`${req.getType()}::${req.getName()}`, {
      parent: req.getParent(),
      urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
      ignoreChanges: req.getIgnorechangesList?.() ?? [],
      dependsOn: req.getDependenciesList?.() ?? [],
      protect: req.getProtect?.(),
    });
    return register(req, cb);
  };
  const qualify = (key: string) => (key.includes(':') ? key : `${PROJECT}:${key}`);
  pulumi.runtime.setAllConfig(full, (options.secretKeys ?? []).map(qualify));

  let outputs: Record<string, unknown> = {};
  let exported: Record<string, unknown> = {};
  let error: Error | undefined;
  // Pulumi records a stack trace for every internal promise; with source maps on (tsx) that is
  // most of a run's cost. Program errors keep their message; set HARNESS_STACKS=1 to debug.
  const stackTraceLimit = Error.stackTraceLimit;
  if (!process.env.HARNESS_STACKS) Error.stackTraceLimit = 0;
  try {
    // The program's own exception is caught inside the stack's init: a rejected init would leave
    // rejected promises behind in Pulumi's runtime (unhandled rejections fail node:test tests).
    const program = pulumi.runtime.runInPulumiStack(async () => {
      try {
        exported = { ...(await import(`${PROGRAM}?run=${++runs}`)) } as Record<string, unknown>;
        return exported;
      } catch (e) {
        error = e instanceof Error ? e : new Error(String(e));
        return {};
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            current.errors[0] ??
              new Error(
                `the program did not finish within ${RUN_TIMEOUT_MS} ms (an output that never resolves?)`,
              ),
          ),
        RUN_TIMEOUT_MS,
      );
    });
    try {
      outputs = (await Promise.race([program, timeout])) as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    error = e instanceof Error ? e : new Error(String(e));
  }
  // Let registrations still in flight (and their apply callbacks) settle before reading records.
  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  try {
    await waitForRPCs?.();
  } catch (e) {
    current.errors.push(e instanceof Error ? e : new Error(String(e)));
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  Error.stackTraceLimit = stackTraceLimit;
  active = undefined;
  lastError = error ?? current.errors[0];
  const secretOutputs: string[] = [];
  for (const [name, value] of Object.entries(error ? {} : exported))
    if (pulumi.Output.isInstance(value) && (await pulumi.isSecret(value))) secretOutputs.push(name);
  return { resources, invokes, outputs: error ? {} : outputs, secretOutputs, error: lastError };
}

/** Every recorded resource of a type. */
export function ofType(run: ProgramRun, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

/** The one resource of a type (optionally whose name ends with `suffix`); throws otherwise. */
export function one(run: ProgramRun, type: string, suffix = ''): RecordedResource {
  const found = ofType(run, type).filter((r) => r.name.endsWith(suffix));
  if (found.length !== 1)
    throw new Error(
      `expected one ${type}${suffix ? ` named *${suffix}` : ''}, found ${found.length}: ${found.map((r) => r.name).join(', ')}`,
    );
  return found[0]!;
}
