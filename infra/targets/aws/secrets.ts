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

/** The app's database login, rotated by a function inside the VPC (it logs in to Postgres). */
export interface DbLoginRotation {
  /** The login's secret (kind `rds-app-user`). */
  secret: { name: string; arn: pulumi.Input<string> };
  /** The RDS master secret the function logs in with (named as `masterarn` in the login's value). */
  masterSecretArn: pulumi.Input<string>;
  /** Master user name and the group role that owns the app's objects. */
  masterUser: string;
  group: string;
  vpcId: pulumi.Input<string>;
  /** Private subnets the function runs in. */
  subnetIds: pulumi.Input<string>[];
  /** The database's security group: the function's group is admitted to it on `port`. */
  dbSecurityGroupId: pulumi.Input<string>;
  port: number;
  /** PEM of the RDS CA the function verifies the database against. */
  caPem: pulumi.Input<string>;
  /**
   * The private subnets have no NAT (lightweight tier): the function reaches Secrets Manager through
   * an interface endpoint in `region`.
   */
  secretsEndpointRegion?: pulumi.Input<string>;
}

export interface SecretRotatorArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Secrets to rotate, by Secrets Manager name, with how their new value is applied. */
  secrets: { name: string; arn: pulumi.Input<string>; kind: Exclude<RotationKind, 'rds-app-user'> }[];
  /** The app's database login (managed Postgres): alternating users, by a function in the VPC. */
  dbLogin?: DbLoginRotation;
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

/** What one rotation function is made of. */
interface RotationFunctionArgs {
  /** Secrets it rotates (it may read and write only these). */
  secrets: { name: string; arn: pulumi.Input<string>; kind: RotationKind }[];
  /** Further IAM statements. */
  statements: unknown[];
  environment: Record<string, pulumi.Input<string>>;
  vpc?: { subnetIds: pulumi.Input<string>[]; securityGroupIds: pulumi.Input<string>[] };
}

const secretStatements = (arns: pulumi.Input<string>[]) => [
  {
    Effect: 'Allow',
    Action: [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ],
    Resource: arns,
  },
  { Effect: 'Allow', Action: 'secretsmanager:GetRandomPassword', Resource: '*' },
];

/**
 * The rotation functions and a rotation schedule on every generated secret: one function for the
 * service credentials (RDS master, ElastiCache, instance-only values), and one inside the VPC for
 * the app's database login (it logs in to Postgres as the master to set the inactive login's password).
 */
export class SecretRotator extends pulumi.ComponentResource {
  readonly functionArn: pulumi.Output<string>;
  /** The database-login function's ARN (managed Postgres only). */
  readonly dbLoginFunctionArn?: pulumi.Output<string>;

  constructor(name: string, args: SecretRotatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:SecretRotator', name, {}, opts);
    const statements: unknown[] = [];
    if (args.dbInstanceArn)
      statements.push({ Effect: 'Allow', Action: 'rds:ModifyDBInstance', Resource: args.dbInstanceArn });
    if (args.replicationGroupArn)
      statements.push({
        Effect: 'Allow',
        Action: 'elasticache:ModifyReplicationGroup',
        Resource: args.replicationGroupArn,
      });
    const main = this.rotationFunction(args, 'secret-rotator', {
      secrets: args.secrets,
      statements,
      environment: {
        DB_INSTANCE_ID: args.dbInstanceIdentifier ?? '',
        REPLICATION_GROUP_ID: args.replicationGroupId ?? '',
      },
    });
    this.functionArn = main.arn;
    for (const secret of args.secrets) this.schedule(args, secret, main, false);
    if (args.dbLogin) {
      const fn = this.dbLoginFunction(args, args.dbLogin);
      this.dbLoginFunctionArn = fn.arn;
      // At once: the first rotation creates the logins in Postgres (see lambdas/postgres-users.ts).
      this.schedule(args, args.dbLogin.secret, fn, true);
    }
    this.registerOutputs({ functionArn: this.functionArn, dbLoginFunctionArn: this.dbLoginFunctionArn });
  }

  /** The VPC function for the app's database login, admitted to the database. */
  private dbLoginFunction(args: SecretRotatorArgs, d: DbLoginRotation) {
    const p = args.prefix;
    const parent = { parent: this };
    const sg = new aws.ec2.SecurityGroup(
      `${p}-db-login-rotator-sg`,
      {
        vpcId: d.vpcId,
        description: 'clawstack database-login rotation function',
        egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
        tags: { ...args.tags, Name: `${p}-db-login-rotator-sg` },
      },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${p}-data-postgres-from-rotator`,
      {
        securityGroupId: d.dbSecurityGroupId,
        ipProtocol: 'tcp',
        fromPort: d.port,
        toPort: d.port,
        referencedSecurityGroupId: sg.id,
        description: 'postgres from the database-login rotation function',
        tags: { ...args.tags, Name: `${p}-data-postgres-from-rotator` },
      },
      parent,
    );
    const endpoint = d.secretsEndpointRegion ? [this.secretsEndpoint(args, d, sg.id)] : [];
    return this.rotationFunction(
      args,
      'db-login-rotator',
      {
        secrets: [{ ...d.secret, kind: 'rds-app-user' }],
        // The master secret is read only, to log in with.
        statements: [
          { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: d.masterSecretArn },
        ],
        environment: { DB_MASTER_USER: d.masterUser, DB_APP_GROUP: d.group, DB_CA_PEM: d.caPem },
        vpc: { subnetIds: d.subnetIds, securityGroupIds: [sg.id] },
      },
      endpoint,
    );
  }

  /** Secrets Manager inside a VPC without NAT (an interface endpoint open to the function only). */
  private secretsEndpoint(args: SecretRotatorArgs, d: DbLoginRotation, fnSg: pulumi.Input<string>) {
    const p = args.prefix;
    const parent = { parent: this };
    const sg = new aws.ec2.SecurityGroup(
      `${p}-secrets-endpoint-sg`,
      {
        vpcId: d.vpcId,
        description: 'clawstack Secrets Manager endpoint: the rotation function only',
        ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, securityGroups: [fnSg] }],
        tags: { ...args.tags, Name: `${p}-secrets-endpoint-sg` },
      },
      parent,
    );
    return new aws.ec2.VpcEndpoint(
      `${p}-secrets-endpoint`,
      {
        vpcId: d.vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${d.secretsEndpointRegion}.secretsmanager`,
        vpcEndpointType: 'Interface',
        privateDnsEnabled: true,
        subnetIds: d.subnetIds,
        securityGroupIds: [sg.id],
        tags: { ...args.tags, Name: `${p}-secrets-endpoint` },
      },
      parent,
    );
  }

  /** Role, policy, log group, function and invoke permission of one rotation function. */
  private rotationFunction(
    args: SecretRotatorArgs,
    name: string,
    f: RotationFunctionArgs,
    dependsOn: pulumi.Resource[] = [],
  ) {
    const p = args.prefix;
    const parent = { parent: this };
    const fnName = `${p}-${name}`;
    // The first function keeps the resource names it has always had (no replacement on update).
    const n =
      name === 'secret-rotator'
        ? {
            role: `${p}-rotator`,
            policy: `${p}-rotator-policy`,
            logs: `${p}-rotator-logs`,
            invoke: `${p}-rotator-invoke`,
          }
        : { role: fnName, policy: `${fnName}-policy`, logs: `${fnName}-logs`, invoke: `${fnName}-invoke` };
    const role = lambdaExecutionRole(n.role, args.tags, parent);
    const attachments = f.vpc
      ? [
          new aws.iam.RolePolicyAttachment(
            `${fnName}-vpc-access`,
            {
              role: role.name,
              policyArn: 'arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
            },
            parent,
          ),
        ]
      : [];
    const statements = [...secretStatements(f.secrets.map((s) => s.arn)), ...f.statements];
    const policy = new aws.iam.RolePolicy(
      n.policy,
      { role: role.id, policy: pulumi.jsonStringify({ Version: '2012-10-17', Statement: statements }) },
      parent,
    );
    const logGroup = new aws.cloudwatch.LogGroup(
      n.logs,
      { name: `/aws/lambda/${fnName}`, retentionInDays: args.logRetentionDays, tags: args.tags },
      parent,
    );
    const fn = new aws.lambda.Function(
      fnName,
      {
        name: fnName,
        runtime: LAMBDA_RUNTIME,
        handler: 'index.handler',
        role: role.arn,
        timeout: 60,
        code: handlerArchive('secret-rotation'),
        environment: {
          variables: {
            SECRET_KINDS: JSON.stringify(Object.fromEntries(f.secrets.map((s) => [s.name, s.kind]))),
            ...f.environment,
          },
        },
        vpcConfig: f.vpc,
        tags: args.tags,
      },
      { parent: this, dependsOn: [logGroup, ...attachments, ...dependsOn] },
    );
    const permission = new aws.lambda.Permission(
      n.invoke,
      {
        action: 'lambda:InvokeFunction',
        function: fn.name,
        principal: 'secretsmanager.amazonaws.com',
        sourceAccount: args.accountId,
      },
      parent,
    );
    return { arn: fn.arn, ready: [permission, policy] as pulumi.Resource[] };
  }

  private schedule(
    args: SecretRotatorArgs,
    secret: { name: string; arn: pulumi.Input<string> },
    fn: { arn: pulumi.Output<string>; ready: pulumi.Resource[] },
    rotateImmediately: boolean,
  ) {
    const short = secret.name.split('/').pop() as string;
    new aws.secretsmanager.SecretRotation(
      `${args.prefix}-${short}-rotation`,
      {
        secretId: secret.arn,
        rotationLambdaArn: fn.arn,
        rotationRules: { automaticallyAfterDays: args.rotationDays },
        rotateImmediately,
      },
      // Rotation starts by invoking the function, which needs its permissions in place.
      { parent: this, dependsOn: fn.ready },
    );
  }
}

export interface DbAppLoginArgs {
  /** Name prefix for every child resource (and the Secrets Manager path). */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** The RDS endpoint, port and database. */
  host: pulumi.Input<string>;
  port: number;
  dbname: string;
  /** The first login of the pair (`<user>` / `<user>_clone`). */
  username: string;
  /** The master secret, named as `masterarn` in the value (the rotation function logs in with it). */
  masterSecretArn: pulumi.Input<string>;
  /** Days a deleted secret can still be recovered. */
  recoveryWindowInDays?: number;
}

/**
 * The app's own database login in Secrets Manager, in AWS's documented shape for an RDS Postgres
 * secret (`engine, host, port, dbname, username, password, masterarn`). The rotation function owns
 * the value after it is created: its first run (at once) creates the logins in Postgres.
 */
export class DbAppLogin extends pulumi.ComponentResource {
  readonly arn: pulumi.Output<string>;
  readonly name: string;

  constructor(name: string, args: DbAppLoginArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:DbAppLogin', name, {}, opts);
    const p = args.prefix;
    this.name = `${p}/db-app-login`;
    const password = new random.RandomPassword(
      `${p}-db-app-login`,
      { length: 32, special: false, minLower: 4, minUpper: 4, minNumeric: 4 },
      { parent: this },
    ).result;
    const secret = new aws.secretsmanager.Secret(
      `${p}-db-app-login`,
      {
        name: this.name,
        description: "the app's Postgres login (alternating users; the app never uses the master)",
        recoveryWindowInDays: args.recoveryWindowInDays ?? 7,
        tags: { ...args.tags, Name: this.name },
      },
      { parent: this },
    );
    const value = pulumi.jsonStringify({
      engine: 'postgres',
      host: args.host,
      port: args.port,
      dbname: args.dbname,
      username: args.username,
      password,
      masterarn: args.masterSecretArn,
    });
    new aws.secretsmanager.SecretVersion(
      `${p}-db-app-login-initial`,
      { secretId: secret.id, secretString: pulumi.secret(value) },
      // Rotation changes the value from then on.
      { parent: this, ignoreChanges: ['secretString'] },
    );
    this.arn = secret.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
