import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { SecretName, SecretSource } from '../../workload/index.ts';
import { secretStoreName } from './decisions.ts';
import { lambdaExecutionRole } from './iam.ts';
import { handlerArchive, LAMBDA_RUNTIME } from './lambdas/bundle.ts';
import type { RotationKind } from './lambdas/secret-rotation.ts';

export type { RotationKind };

export interface AppSecretsArgs {
  /** Name prefix for every child resource (and the Secrets Manager path). */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** The workload's secrets: generated here, or values set with `pulumi config set --secret`. */
  secrets: Partial<Record<SecretName, SecretSource>>;
  /** Days a deleted secret can still be recovered (0 deletes at once). */
  recoveryWindowInDays?: number;
}

/**
 * Every secret the workload refers to, in Secrets Manager, where instances fetch them at boot:
 * generated credentials come from `@pulumi/random` (so they are Pulumi secrets in state); config
 * secrets (`appEnv` set with `--secret`) are stored as given and updated with the config. User-data
 * only ever carries the secrets' ARNs.
 */
export class AppSecrets extends pulumi.ComponentResource {
  /** Secrets Manager ARN per workload secret. */
  readonly arns: Partial<Record<SecretName, pulumi.Output<string>>> = {};
  /** Secrets Manager name per workload secret. */
  readonly names: Partial<Record<SecretName, string>> = {};
  /** The values (Pulumi secrets), for the services that are created with them (RDS, ElastiCache). */
  readonly values: Partial<Record<SecretName, pulumi.Output<string>>> = {};
  readonly secretArns: pulumi.Output<string>[];

  constructor(name: string, args: AppSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:AppSecrets', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };

    for (const [secretName, source] of Object.entries(args.secrets) as [SecretName, SecretSource][]) {
      const storeName = secretStoreName(p, secretName);
      const n = storeName.slice(p.length + 1).replace(/\//g, '-');
      // Alphanumeric only: the values are spliced into URLs and ElastiCache rejects some symbols.
      const value =
        source.kind === 'generated'
          ? new random.RandomPassword(
              `${p}-${n}`,
              { length: source.length, special: false, minLower: 4, minUpper: 4, minNumeric: 4 },
              // A new length must not replace the value of an existing stack: the services would get
              // it while Secrets Manager (ignoreChanges below) kept the old one. Rotation renews it.
              { parent: this, ignoreChanges: ['length'] },
            ).result
          : pulumi.output(source.value);
      const secret = new aws.secretsmanager.Secret(
        `${p}-${n}`,
        {
          name: storeName,
          description:
            DESCRIPTIONS[secretName] ??
            `app environment ${secretName.slice('appEnv.'.length)} (config secret)`,
          recoveryWindowInDays: args.recoveryWindowInDays ?? 7,
          tags: { ...args.tags, Name: storeName },
        },
        parent,
      );
      // Generated values rotate in place (the version is not reset on the next up); config values
      // follow the stack config.
      new aws.secretsmanager.SecretVersion(
        `${p}-${n}-initial`,
        { secretId: secret.id, secretString: pulumi.secret(value) },
        { parent: this, ignoreChanges: source.kind === 'generated' ? ['secretString'] : [] },
      );
      this.arns[secretName] = secret.arn;
      this.names[secretName] = storeName;
      this.values[secretName] = pulumi.secret(value);
    }
    this.secretArns = Object.values(this.arns).filter((a) => a !== undefined);
    this.registerOutputs({ secretArns: this.secretArns });
  }
}

const DESCRIPTIONS: Partial<Record<SecretName, string>> = {
  dbPassword: 'Postgres password of the clawstack user',
  redisPassword: 'Redis AUTH token',
  bootstrapApiKey: 'BOOTSTRAP_API_KEY: an API key the app creates at start-up',
};

export interface SecretRotatorArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Secrets to rotate, by Secrets Manager name, with how their new value is applied. */
  secrets: { name: string; arn: pulumi.Input<string>; kind: RotationKind }[];
  /** Rotation period. */
  rotationDays: number;
  /** RDS instance whose master password the `rds` secret holds. */
  dbInstanceIdentifier?: pulumi.Input<string>;
  /** ARN of that instance (the function may modify only it). */
  dbInstanceArn?: pulumi.Input<string>;
  /** ElastiCache replication group whose AUTH token the `elasticache` secret holds. */
  replicationGroupId?: pulumi.Input<string>;
  /** ARN of that replication group (the function may modify only it). */
  replicationGroupArn?: pulumi.Input<string>;
  /** Log retention of the function's log group. */
  logRetentionDays: number;
  /** This account: only its Secrets Manager may invoke the function. */
  accountId: pulumi.Input<string>;
}

/** One rotation function and a rotation schedule on every app secret. */
export class SecretRotator extends pulumi.ComponentResource {
  readonly functionArn: pulumi.Output<string>;

  constructor(name: string, args: SecretRotatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:SecretRotator', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const fnName = `${p}-secret-rotator`;

    const role = lambdaExecutionRole(`${p}-rotator`, args.tags, parent);
    const statements: unknown[] = [
      {
        Effect: 'Allow',
        Action: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        Resource: args.secrets.map((s) => s.arn),
      },
      { Effect: 'Allow', Action: 'secretsmanager:GetRandomPassword', Resource: '*' },
    ];
    if (args.dbInstanceArn)
      statements.push({ Effect: 'Allow', Action: 'rds:ModifyDBInstance', Resource: args.dbInstanceArn });
    if (args.replicationGroupArn)
      statements.push({
        Effect: 'Allow',
        Action: 'elasticache:ModifyReplicationGroup',
        Resource: args.replicationGroupArn,
      });
    const policy = new aws.iam.RolePolicy(
      `${p}-rotator-policy`,
      { role: role.id, policy: pulumi.jsonStringify({ Version: '2012-10-17', Statement: statements }) },
      parent,
    );

    const logGroup = new aws.cloudwatch.LogGroup(
      `${p}-rotator-logs`,
      { name: `/aws/lambda/${fnName}`, retentionInDays: args.logRetentionDays, tags: args.tags },
      parent,
    );
    const fn = new aws.lambda.Function(
      `${p}-secret-rotator`,
      {
        name: fnName,
        runtime: LAMBDA_RUNTIME,
        handler: 'index.handler',
        role: role.arn,
        timeout: 60,
        code: handlerArchive('secret-rotation'),
        environment: {
          variables: {
            SECRET_KINDS: JSON.stringify(Object.fromEntries(args.secrets.map((s) => [s.name, s.kind]))),
            DB_INSTANCE_ID: args.dbInstanceIdentifier ?? '',
            REPLICATION_GROUP_ID: args.replicationGroupId ?? '',
          },
        },
        tags: args.tags,
      },
      { parent: this, dependsOn: [logGroup] },
    );
    this.functionArn = fn.arn;
    const permission = new aws.lambda.Permission(
      `${p}-rotator-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: fn.name,
        principal: 'secretsmanager.amazonaws.com',
        sourceAccount: args.accountId,
      },
      parent,
    );

    for (const secret of args.secrets) {
      const short = secret.name.split('/').pop() as string;
      new aws.secretsmanager.SecretRotation(
        `${p}-${short}-rotation`,
        {
          secretId: secret.arn,
          rotationLambdaArn: fn.arn,
          rotationRules: { automaticallyAfterDays: args.rotationDays },
          rotateImmediately: false,
        },
        // Rotation starts by invoking the function, which needs its permissions in place.
        { parent: this, dependsOn: [permission, policy] },
      );
    }
    this.registerOutputs({ functionArn: this.functionArn });
  }
}
