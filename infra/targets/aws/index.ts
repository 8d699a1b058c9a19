import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { buildWorkload, DB_NAME, DB_USER, POSTGRES_PORT } from '../../workload/index.ts';
import type { Container, SecretName } from '../../workload/index.ts';
import type { DeploymentSpec, TierSummary } from '../types.ts';
import type { AwsSpec } from './spec.ts';
import { renderCloudInit } from './cloud-init.ts';
import { AppFleet, asgName, drainHookName, launchImageId } from './compute.ts';
import { ColocatedDataVolume, ManagedDataServices } from './data.ts';
import {
  archivedLogGroups,
  awsWiring,
  databaseUrlTemplate,
  DB_APP,
  deregistrationDelaySeconds,
  healthCheckGraceSeconds,
  logGroupNames,
  metricsLogGroupName,
  modelSource,
} from './decisions.ts';
import { InstanceEdge, LoadBalancedEdge } from './edge.ts';
import { Network } from './network.ts';
import { LogArchive } from './log-archive.ts';
import { logArchivePaths } from './log-delivery.ts';
import { backlogPerInstance } from './metrics-agent.ts';
import { CostBudget, Observability } from './observability.ts';
import { AppSecrets, DbAppLogin, SecretRotator } from './secrets.ts';
import type { RotationKind } from './secrets.ts';
import { rdsCaCertificate } from './rds-ca.ts';
import { ObjectStore } from './storage.ts';

export interface AwsDeploymentArgs {
  /** The validated deployment spec (infra/spec) with the `clawstack:aws` section; every choice below is read from it. */
  spec: DeploymentSpec<AwsSpec>;
}

/** What a reviewer wants to see about the hardware a stack runs on. */
export function tierSummary(spec: DeploymentSpec<AwsSpec>): TierSummary {
  const own = spec.section;
  return {
    tier: spec.tier.name,
    capacity: spec.capacity,
    instanceTypes: own.instanceTypes,
    ami: own.amiId ? `${own.amiId} (pinned)` : `${spec.tier.aws.ami.name} (latest at each launch)`,
    rootVolumeGb: own.rootVolumeGb,
    edge: spec.tier.aws.edge === 'alb' ? 'ALB (TLS 1.2+) over two AZs' : 'Caddy on the instance + Elastic IP',
    dataServices: spec.dataServices,
    scaling: `min ${spec.scaling.min} / desired ${own.desiredCapacity} / max ${spec.scaling.max}, CPU target ${spec.scaling.cpuTargetPercent}%`,
    executionProvider: spec.tier.app.executionProvider,
    modelPrecision: spec.tier.app.modelPrecision,
    image: spec.image,
  };
}

type Spec = DeploymentSpec<AwsSpec>;
type Parent = { parent: pulumi.Resource };

/** Hosts the shape workload is built with before the managed endpoints exist (never deployed). */
const SHAPE_HOSTS = { dbHost: 'managed-postgres.invalid', redisHost: 'managed-redis.invalid' };

/** The edge: an ALB over two AZs, or the instance itself behind an Elastic IP. */
type Edge = { alb: LoadBalancedEdge; instance?: undefined } | { alb?: undefined; instance: InstanceEdge };

/**
 * The whole service on AWS: network, bucket, secrets, data services, edge/TLS, the instance fleet
 * (whose cloud-init renders the shared workload), alarms and budget, each its own component under
 * this one. The constructor wires; the decisions are pure functions in ./decisions.ts.
 */
export class AwsDeployment extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly alarmTopicArn: pulumi.Output<string>;
  readonly dashboardUrl: pulumi.Output<string>;
  /** The generated bootstrap API key as created (a Pulumi secret); rotation replaces it in Secrets Manager. */
  readonly bootstrapApiKey?: pulumi.Output<string>;
  /** Where the current bootstrap key lives (Secrets Manager name). */
  readonly bootstrapApiKeySecret?: string;
  readonly tierSummary: TierSummary;

  constructor(name: string, args: AwsDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:AwsDeployment', name, {}, opts);
    const spec = args.spec;
    const own = spec.section;
    const p = spec.prefix;
    const parent = { parent: this };
    const colocated = spec.dataServices === 'colocated';
    this.tierSummary = tierSummary(spec);
    const accountId = aws.getCallerIdentityOutput({}, parent).accountId;
    // The workload's shape (roles, secrets, log groups) does not depend on resolved endpoints; the
    // app's env contract is checked here, before any resource exists.
    const shape = buildWorkload(spec, awsWiring(colocated ? undefined : SHAPE_HOSTS, 's3://bucket/models'));

    const network = this.network(spec, parent);
    const region = aws.getRegionOutput({}, parent).region;
    const store = this.store(spec, { region, accountId }, parent);
    const secrets = new AppSecrets(
      `${p}-secrets`,
      { prefix: p, tags: spec.tags, secrets: shape.secrets },
      parent,
    );
    const managed = colocated ? undefined : this.managedData(spec, network, secrets, parent);
    const volume = colocated ? this.dataVolume(spec, network, parent) : undefined;
    const dbLogin = this.rotation(spec, { secrets, managed, network, accountId }, parent);
    const edge = this.edge(spec, network, store, parent);
    const logGroups = logGroupNames(shape, spec.tier.aws.edge);
    const backlog = { ...backlogPerInstance(spec.stack, asgName(p)), target: own.scaling.backlogPerInstance };
    const observability = this.observe(spec, { region, accountId, logGroups, backlog, edge, store, network });
    const userData = this.userData(spec, { store, secrets, managed, dbLogin, volume, edge, logGroups });
    this.fleet(spec, {
      network,
      store,
      secretArns: instanceSecretArns(secrets, managed, dbLogin),
      volume,
      edge,
      userData,
      observability,
      api: shape.app.api,
      backlog,
    });

    this.url = edge.alb ? edge.alb.url : edge.instance.url;
    this.bucketName = store.bucketName;
    this.alarmTopicArn = observability.alarmTopicArn;
    this.dashboardUrl = observability.dashboardUrl;
    this.bootstrapApiKey = secrets.values.bootstrapApiKey;
    this.bootstrapApiKeySecret = secrets.names.bootstrapApiKey;
    this.registerOutputs({
      url: this.url,
      bucketName: this.bucketName,
      alarmTopicArn: this.alarmTopicArn,
      dashboardUrl: this.dashboardUrl,
    });
  }

  private store(
    spec: Spec,
    r: { region: pulumi.Output<string>; accountId: pulumi.Output<string> },
    parent: Parent,
  ) {
    const own = spec.section;
    return new ObjectStore(
      `${spec.prefix}-storage`,
      {
        prefix: spec.prefix,
        tags: spec.tags,
        ...own.storage,
        logDelivery: {
          stack: spec.stack,
          region: r.region,
          accountId: r.accountId,
          albAccessLogs: own.observability.albAccessLogs,
          flowLogs: own.observability.flowLogs,
        },
      },
      parent,
    );
  }

  /** Co-located data lives on a volume in the first AZ; the single instance is pinned there. */
  private dataVolume(spec: Spec, network: Network, parent: Parent) {
    const own = spec.section;
    return new ColocatedDataVolume(
      `${spec.prefix}-data`,
      {
        prefix: spec.prefix,
        tags: spec.tags,
        availabilityZone: network.availabilityZones[0]!,
        sizeGb: own.dataVolumeGb,
        snapshotDays: own.data.snapshotDays,
        protect: own.data.deletionProtection,
      },
      parent,
    );
  }

  /** Log groups, alarms and dashboard; the cost budget; the log archive (CloudWatch → Firehose → S3). */
  private observe(
    spec: Spec,
    r: {
      region: pulumi.Output<string>;
      accountId: pulumi.Output<string>;
      logGroups: Record<string, string>;
      backlog: Parameters<AwsDeployment['fleet']>[1]['backlog'];
      edge: Edge;
      store: ObjectStore;
      network: Network;
    },
  ): Observability {
    const own = spec.section;
    const p = spec.prefix;
    const { region, accountId, logGroups, backlog, edge, store, network } = r;
    const observability = new Observability(
      `${p}-observability`,
      {
        prefix: p,
        tags: spec.tags,
        stack: spec.stack,
        region,
        logGroupNames: logGroups,
        logRetentionDays: own.observability.logRetentionDays,
        metricsLogGroupName: metricsLogGroupName(spec.stack),
        backlog,
        alertEmails: spec.alertEmails,
        asgName: asgName(p),
        alb: edge.alb && {
          loadBalancerArnSuffix: edge.alb.loadBalancerArnSuffix,
          targetGroupArnSuffix: edge.alb.targetGroupArnSuffix,
        },
        gpu: !!spec.tier.gpu,
        accountId,
      },
      { parent: this },
    );
    new CostBudget(
      `${p}-budget`,
      {
        prefix: p,
        tags: spec.tags,
        stack: spec.stack,
        monthlyUsd: own.observability.monthlyBudgetUsd,
        topicArn: observability.alarmTopicArn,
        alertEmails: spec.alertEmails,
        topicPolicy: observability.topicPolicy,
      },
      { parent: this },
    );
    new LogArchive(
      `${p}-log-archive`,
      {
        prefix: p,
        tags: spec.tags,
        stack: spec.stack,
        region,
        accountId,
        bucketArn: store.bucketArn,
        logPrefix: own.storage.logPrefix,
        logGroupNames: archivedLogGroups(observability.logGroupNames),
        flowLogVpcId: own.observability.flowLogs ? network.vpcId : undefined,
        bucketPolicy: store.policy,
      },
      { parent: this },
    );
    return observability;
  }

  private network(spec: Spec, parent: Parent): Network {
    const alb = spec.tier.aws.edge === 'alb';
    const own = spec.section;
    return new Network(
      `${spec.prefix}-network`,
      {
        prefix: spec.prefix,
        tags: spec.tags,
        cidr: own.network.vpcCidr,
        allowedCidrs: spec.network.allowedCidrs,
        adminCidrs: spec.network.adminCidrs,
        nat: alb ? (own.network.highAvailabilityNat ? 'per-az' : 'single') : 'none',
        instanceIsEdge: !alb,
      },
      parent,
    );
  }

  private managedData(spec: Spec, network: Network, secrets: AppSecrets, parent: Parent) {
    const data = spec.section.data;
    return new ManagedDataServices(
      `${spec.prefix}-data`,
      {
        prefix: spec.prefix,
        tags: spec.tags,
        vpcId: network.vpcId,
        subnetIds: network.privateSubnetIds,
        appSecurityGroupId: network.appSecurityGroupId,
        dbPassword: secrets.values.dbPassword!,
        redisAuthToken: secrets.values.redisPassword!,
        dbInstanceClass: data.dbInstanceClass,
        dbAllocatedStorageGb: data.dbAllocatedStorageGb,
        dbBackupRetentionDays: data.dbBackupRetentionDays,
        multiAz: data.dbMultiAz,
        cacheNodeType: data.cacheNodeType,
        deletionProtection: data.deletionProtection,
        applyImmediately: data.applyImmediately,
      },
      parent,
    );
  }

  /**
   * Rotation of the generated credentials (config secrets change with the config instead); with
   * managed Postgres also the app's own login (alternating users), which it returns.
   */
  private rotation(
    spec: Spec,
    r: {
      secrets: AppSecrets;
      managed?: ManagedDataServices;
      network: Network;
      accountId: pulumi.Output<string>;
    },
    parent: Parent,
  ): DbAppLogin | undefined {
    const { secrets, managed } = r;
    const dbLogin = managed
      ? new DbAppLogin(
          `${spec.prefix}-db-app-login`,
          {
            prefix: spec.prefix,
            tags: spec.tags,
            host: managed.dbAddress,
            port: POSTGRES_PORT,
            dbname: DB_NAME,
            username: DB_APP.user,
            masterSecretArn: secrets.arns.dbPassword!,
          },
          parent,
        )
      : undefined;
    const region = aws.getRegionOutput({}, parent).region;
    const kinds: Partial<Record<SecretName, Exclude<RotationKind, 'rds-app-user'>>> = {
      dbPassword: managed ? 'rds' : 'instance',
      redisPassword: managed ? 'elasticache' : 'instance',
      bootstrapApiKey: 'instance',
    };
    const rotated = (Object.keys(kinds) as SecretName[]).filter((n) => secrets.arns[n]);
    new SecretRotator(
      `${spec.prefix}-rotation`,
      {
        prefix: spec.prefix,
        tags: spec.tags,
        secrets: rotated.map((n) => ({ name: secrets.names[n]!, arn: secrets.arns[n]!, kind: kinds[n]! })),
        rotationDays: spec.section.secretRotationDays,
        dbInstanceIdentifier: managed?.dbInstanceIdentifier,
        dbInstanceArn: managed?.dbInstanceArn,
        replicationGroupId: managed?.replicationGroupId,
        replicationGroupArn: managed?.replicationGroupArn,
        logRetentionDays: spec.section.observability.logRetentionDays,
        accountId: r.accountId,
        dbLogin: dbLogin && {
          secret: { name: dbLogin.name, arn: dbLogin.arn },
          masterSecretArn: secrets.arns.dbPassword!,
          masterUser: DB_USER,
          group: DB_APP.group,
          vpcId: r.network.vpcId,
          subnetIds: r.network.privateSubnetIds,
          dbSecurityGroupId: managed!.securityGroupId,
          port: POSTGRES_PORT,
          caPem: region.apply((name) => rdsCaCertificate(name)),
          // Without NAT (instance edge) the private subnets reach Secrets Manager through an endpoint.
          secretsEndpointRegion: spec.tier.aws.edge === 'alb' ? undefined : region,
        },
      },
      parent,
    );
    return dbLogin;
  }

  private edge(spec: Spec, network: Network, store: ObjectStore, parent: Parent): Edge {
    const p = spec.prefix;
    const tls = spec.section.tls;
    if (spec.tier.aws.edge === 'instance')
      return {
        instance: new InstanceEdge(
          `${p}-edge`,
          { prefix: p, tags: spec.tags, domain: spec.tls.domain!, hostedZoneId: tls.hostedZoneId },
          parent,
        ),
      };
    return {
      alb: new LoadBalancedEdge(
        `${p}-edge`,
        {
          prefix: p,
          tags: spec.tags,
          vpcId: network.vpcId,
          subnetIds: network.publicSubnetIds,
          securityGroupId: network.edgeSecurityGroupId,
          domain: spec.tls.domain,
          hostedZoneId: tls.hostedZoneId,
          certificateArn: tls.certificateArn,
          adminListener: spec.network.adminCidrs.length > 0,
          wafRateLimit: tls.wafRateLimit,
          deregistrationDelaySeconds: deregistrationDelaySeconds(spec.capacity),
          deletionProtection: tls.albDeletionProtection,
          accessLogs: spec.section.observability.albAccessLogs
            ? {
                bucket: store.bucketName,
                prefix: logArchivePaths(spec.section.storage.logPrefix, spec.stack).alb,
                ready: store.policy,
              }
            : undefined,
        },
        parent,
      ),
    };
  }

  /** The cloud-init document: the workload wired to the resolved endpoints, secrets by ARN. */
  private userData(
    spec: Spec,
    r: {
      store: ObjectStore;
      secrets: AppSecrets;
      managed?: ManagedDataServices;
      dbLogin?: DbAppLogin;
      volume?: ColocatedDataVolume;
      edge: Edge;
      logGroups: Record<string, string>;
    },
  ): pulumi.Output<string> {
    const own = spec.section;
    const resolved: Record<string, pulumi.Input<string> | undefined> = {
      region: aws.getRegionOutput({}, { parent: this }).region,
      bucket: r.store.bucketName,
      dbHost: r.managed?.dbAddress,
      redisHost: r.managed?.redisAddress,
      volumeId: r.volume?.volumeId,
      allocationId: r.edge.instance?.allocationId,
      tgArn: r.edge.alb?.targetGroupArn,
      dbLoginArn: r.dbLogin?.arn,
    };
    const arns = r.secrets.arns as Record<string, pulumi.Output<string>>;
    return pulumi
      .all([pulumi.all(resolved), pulumi.all(arns)])
      .apply(
        ([{ region, bucket, dbHost, redisHost, volumeId, allocationId, tgArn, dbLoginArn }, secretArns]) => {
          const hosts = dbHost && redisHost ? { dbHost, redisHost } : undefined;
          const workload = buildWorkload(
            spec,
            awsWiring(hosts, modelSource(bucket!, own.storage.modelPrefix)),
          );
          return renderCloudInit({
            workload,
            region: region!,
            edge: spec.tier.aws.edge,
            domain: spec.tls.domain,
            acmeEmail: spec.tls.acmeEmail,
            adminCidrs: spec.network.adminCidrs,
            eipAllocationId: allocationId,
            dataVolumeId: volumeId,
            secretArns,
            bucket: bucket!,
            logPrefix: own.storage.logPrefix,
            logGroups: r.logGroups,
            metricsLogGroup: metricsLogGroupName(spec.stack),
            asgName: asgName(spec.prefix),
            drainHookName: drainHookName(spec.prefix),
            targetGroupArn: tgArn,
            localLogDays: own.observability.localLogDays,
            rdsCaPem: hosts ? rdsCaCertificate(region!) : undefined,
            dbLogin:
              hosts && dbLoginArn
                ? { secretArn: dbLoginArn, urlTemplate: databaseUrlTemplate(hosts.dbHost) }
                : undefined,
          });
        },
      );
  }

  private fleet(
    spec: Spec,
    r: {
      network: Network;
      store: ObjectStore;
      secretArns: pulumi.Output<string>[];
      volume?: ColocatedDataVolume;
      edge: Edge;
      userData: pulumi.Output<string>;
      observability: Observability;
      api: Container;
      backlog: {
        metrics: ReturnType<typeof backlogPerInstance>['metrics'];
        expression: string;
        target: number;
      };
    },
  ): AppFleet {
    const own = spec.section;
    const p = spec.prefix;
    const alb = !!r.edge.alb;
    const colocated = !!r.volume;
    const api = r.api;
    return new AppFleet(
      `${p}-fleet`,
      {
        prefix: p,
        tags: spec.tags,
        instanceTypes: own.instanceTypes,
        capacity: spec.capacity,
        imageId: launchImageId(spec.tier.aws.ami.ssmParameter, own.amiId),
        rootVolumeGb: own.rootVolumeGb,
        // Lightweight: public subnets (Elastic IP, no NAT). Co-located data: the volume's AZ only.
        subnetIds: (alb ? r.network.privateSubnetIds : r.network.publicSubnetIds).slice(0, colocated ? 1 : 2),
        securityGroupIds: alb
          ? [r.network.appSecurityGroupId]
          : [r.network.appSecurityGroupId, r.network.edgeSecurityGroupId],
        targetGroupArns: r.edge.alb ? [r.edge.alb.targetGroupArn] : [],
        minSize: spec.scaling.min,
        maxSize: spec.scaling.max,
        desiredCapacity: own.desiredCapacity,
        cpuTargetPercent: spec.scaling.cpuTargetPercent,
        backlog: r.backlog,
        gpuTargetPercent: own.scaling.gpuTargetPercent,
        userData: r.userData,
        bucketArn: r.store.bucketArn,
        modelPrefix: own.storage.modelPrefix,
        logPrefix: own.storage.logPrefix,
        secretArns: r.secretArns,
        eipAllocationArn: r.edge.instance?.allocationArn,
        dataVolumeArn: r.volume?.volumeArn,
        drainSeconds: api.stopGraceSeconds,
        healthCheckGraceSeconds: healthCheckGraceSeconds(api),
        // Instances need the NAT route and the S3 endpoint at boot (image pulls, secrets, models).
        bootAfter: [r.network],
      },
      { parent: this, dependsOn: [r.observability] },
    );
  }
}

/** Instances read the secrets their containers use; the RDS master password is not one of them. */
function instanceSecretArns(
  secrets: AppSecrets,
  managed: ManagedDataServices | undefined,
  dbLogin: DbAppLogin | undefined,
): pulumi.Output<string>[] {
  return [
    ...Object.entries(secrets.arns)
      .filter(([n]) => !(managed && n === 'dbPassword'))
      .map(([, arn]) => arn!),
    ...(dbLogin ? [dbLogin.arn] : []),
  ];
}
