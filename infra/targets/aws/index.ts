import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { buildAppEnv, SECRET_PLACEHOLDERS, stopGraceSeconds } from '../../workload/index.ts';
import type { DeploymentSpec, TierSummary } from '../types.ts';
import type { AwsSpec } from './spec.ts';
import { renderCloudInit } from './cloud-init.ts';
import { AppFleet, asgName, drainHookName } from './compute.ts';
import {
  ColocatedDataVolume,
  DB_NAME,
  DB_USER,
  ManagedDataServices,
  POSTGRES_PORT,
  REDIS_PORT,
} from './data.ts';
import { InstanceEdge, LoadBalancedEdge } from './edge.ts';
import { APP_PORT, Network } from './network.ts';
import { CostBudget, Observability } from './observability.ts';
import { AppSecrets, SecretRotator } from './secrets.ts';
import type { RotationKind } from './secrets.ts';
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
    ami: spec.tier.aws.ami.name,
    rootVolumeGb: own.rootVolumeGb,
    edge: spec.tier.aws.edge === 'alb' ? 'ALB (TLS 1.2+) over two AZs' : 'Caddy on the instance + Elastic IP',
    dataServices: spec.dataServices,
    scaling: `min ${spec.scaling.min} / desired ${own.desiredCapacity} / max ${spec.scaling.max}, CPU target ${spec.scaling.cpuTargetPercent}%`,
    executionProvider: spec.tier.app.executionProvider,
    modelPrecision: spec.tier.app.modelPrecision,
    image: spec.image,
  };
}

/**
 * The whole service on AWS: network, bucket, secrets, data services, edge/TLS, the instance fleet,
 * alarms and budget, each its own component under this one.
 */
export class AwsDeployment extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly alarmTopicArn: pulumi.Output<string>;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly tierSummary: TierSummary;

  constructor(name: string, args: AwsDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:AwsDeployment', name, {}, opts);
    const spec = args.spec;
    const own = spec.section;
    const p = spec.prefix;
    const tags = spec.tags;
    const parent = { parent: this };
    const alb = spec.tier.aws.edge === 'alb';
    const colocated = spec.dataServices === 'colocated';
    const region = aws.getRegionOutput({}, parent).region;
    this.tierSummary = tierSummary(spec);

    const network = new Network(
      `${p}-network`,
      {
        prefix: p,
        tags,
        cidr: own.network.vpcCidr,
        allowedCidrs: spec.network.allowedCidrs,
        adminCidrs: spec.network.adminCidrs,
        nat: alb ? (own.network.highAvailabilityNat ? 'per-az' : 'single') : 'none',
        instanceIsEdge: !alb,
      },
      parent,
    );

    const store = new ObjectStore(
      `${p}-storage`,
      {
        prefix: p,
        tags,
        modelPrefix: own.storage.modelPrefix,
        logPrefix: own.storage.logPrefix,
        archiveAfterDays: own.storage.archiveAfterDays,
        archiveStorageClass: own.storage.archiveStorageClass,
        noncurrentVersionDays: own.storage.noncurrentVersionDays,
      },
      parent,
    );

    const secrets = new AppSecrets(`${p}-secrets`, { prefix: p, tags }, parent);

    const managed = colocated
      ? undefined
      : new ManagedDataServices(
          `${p}-data`,
          {
            prefix: p,
            tags,
            vpcId: network.vpcId,
            subnetIds: network.privateSubnetIds,
            appSecurityGroupId: network.appSecurityGroupId,
            dbPassword: secrets.dbPassword,
            redisAuthToken: secrets.redisAuthToken,
            dbInstanceClass: own.data.dbInstanceClass,
            dbAllocatedStorageGb: own.data.dbAllocatedStorageGb,
            dbBackupRetentionDays: own.data.dbBackupRetentionDays,
            multiAz: own.data.dbMultiAz,
            cacheNodeType: own.data.cacheNodeType,
            deletionProtection: own.data.deletionProtection,
          },
          parent,
        );
    // Co-located data lives on a volume in the first AZ; the single instance is pinned there.
    const volume = colocated
      ? new ColocatedDataVolume(
          `${p}-data`,
          { prefix: p, tags, availabilityZone: network.availabilityZones[0]!, sizeGb: own.dataVolumeGb },
          parent,
        )
      : undefined;

    const rotation: { name: string; arn: pulumi.Input<string>; kind: RotationKind }[] = [
      { name: `${p}/db-password`, arn: secrets.dbPasswordSecretArn, kind: managed ? 'rds' : 'instance' },
      {
        name: `${p}/redis-auth-token`,
        arn: secrets.redisAuthSecretArn,
        kind: managed ? 'elasticache' : 'instance',
      },
      { name: `${p}/bootstrap-api-key`, arn: secrets.apiKeySecretArn, kind: 'instance' },
    ];
    new SecretRotator(
      `${p}-rotation`,
      {
        prefix: p,
        tags,
        secrets: rotation,
        rotationDays: own.secretRotationDays,
        dbInstanceIdentifier: managed?.dbInstanceIdentifier,
        dbInstanceArn: managed?.dbInstanceArn,
        replicationGroupId: managed?.replicationGroupId,
        replicationGroupArn: managed?.replicationGroupArn,
        logRetentionDays: own.observability.logRetentionDays,
      },
      parent,
    );

    const ledge = alb
      ? new LoadBalancedEdge(
          `${p}-edge`,
          {
            prefix: p,
            tags,
            vpcId: network.vpcId,
            subnetIds: network.publicSubnetIds,
            securityGroupId: network.edgeSecurityGroupId,
            domain: spec.tls.domain,
            hostedZoneId: own.tls.hostedZoneId,
            certificateArn: own.tls.certificateArn,
            adminListener: spec.network.adminCidrs.length > 0,
            wafRateLimit: own.tls.wafRateLimit,
            deregistrationDelaySeconds: spec.capacity === 'spot' ? 30 : 60,
          },
          parent,
        )
      : undefined;
    const iedge = alb
      ? undefined
      : new InstanceEdge(
          `${p}-edge`,
          { prefix: p, tags, domain: spec.tls.domain!, hostedZoneId: own.tls.hostedZoneId },
          parent,
        );

    const logGroupNames: Record<string, string> = {
      api: `/clawstack/${spec.stack}/api`,
      worker: `/clawstack/${spec.stack}/worker`,
      system: `/clawstack/${spec.stack}/system`,
    };
    if (colocated) {
      logGroupNames.postgres = `/clawstack/${spec.stack}/postgres`;
      logGroupNames.redis = `/clawstack/${spec.stack}/redis`;
    }
    if (!alb) logGroupNames.edge = `/clawstack/${spec.stack}/edge`;

    const fleetName = asgName(p);
    const observability = new Observability(
      `${p}-observability`,
      {
        prefix: p,
        tags,
        stack: spec.stack,
        region,
        logGroupNames,
        logRetentionDays: own.observability.logRetentionDays,
        alertEmails: spec.alertEmails,
        asgName: fleetName,
        alb: ledge
          ? {
              loadBalancerArnSuffix: ledge.loadBalancerArnSuffix,
              targetGroupArnSuffix: ledge.targetGroupArnSuffix,
            }
          : undefined,
        gpu: !!spec.tier.gpu,
      },
      parent,
    );
    new CostBudget(
      `${p}-budget`,
      {
        prefix: p,
        tags,
        stack: spec.stack,
        monthlyUsd: own.observability.monthlyBudgetUsd,
        topicArn: observability.alarmTopicArn,
        alertEmails: spec.alertEmails,
      },
      parent,
    );

    // The app's environment, through the app's own contract; secrets stay placeholders here.
    const stopGrace = stopGraceSeconds(spec.app.drainTimeoutMs);
    const userData = pulumi
      .all({
        reg: region,
        bucket: store.bucketName,
        dbHost: managed?.dbAddress,
        redisHost: managed?.redisAddress,
        dbArn: secrets.dbPasswordSecretArn,
        redisArn: secrets.redisAuthSecretArn,
        keyArn: secrets.apiKeySecretArn,
        volumeId: volume?.volumeId,
        allocationId: iedge?.allocationId,
        tgArn: ledge?.targetGroupArn,
      })
      .apply(({ reg, bucket, dbHost, redisHost, dbArn, redisArn, keyArn, volumeId, allocationId, tgArn }) => {
        const env = buildAppEnv(spec, {
          host: '0.0.0.0',
          port: APP_PORT,
          modelSource: `s3://${bucket}/${own.storage.modelPrefix.replace(/\/$/, '')}`,
          dataDir: '/tmp/clawstack',
          databaseUrl: dbHost
            ? `postgres://${DB_USER}:${SECRET_PLACEHOLDERS.dbPassword}@${dbHost}:${POSTGRES_PORT}/${DB_NAME}?sslmode=require`
            : `postgres://${DB_USER}:${SECRET_PLACEHOLDERS.dbPassword}@clawstack-postgres:${POSTGRES_PORT}/${DB_NAME}`,
          redisUrl: redisHost
            ? `rediss://:${SECRET_PLACEHOLDERS.redisAuth}@${redisHost}:${REDIS_PORT}`
            : `redis://:${SECRET_PLACEHOLDERS.redisAuth}@clawstack-redis:${REDIS_PORT}`,
          bootstrapApiKey: SECRET_PLACEHOLDERS.bootstrapApiKey,
        });
        return renderCloudInit({
          stack: spec.stack,
          region: reg as string,
          image: spec.image,
          appEnv: env,
          gpu: !!spec.tier.gpu,
          edge: spec.tier.aws.edge,
          domain: spec.tls.domain,
          acmeEmail: spec.tls.acmeEmail,
          adminCidrs: spec.network.adminCidrs,
          eipAllocationId: allocationId,
          colocated,
          dataVolumeId: volumeId,
          secretArns: {
            dbPassword: dbArn as string,
            redisAuth: redisArn as string,
            bootstrapApiKey: keyArn as string,
          },
          bucket: bucket as string,
          logPrefix: own.storage.logPrefix,
          logGroups: logGroupNames as CloudInitLogGroups,
          asgName: fleetName,
          drainHookName: drainHookName(p),
          targetGroupArn: tgArn,
          stopGraceSeconds: stopGrace,
          processLimits: spec.tier.process,
          localLogDays: own.observability.localLogDays,
        });
      });

    new AppFleet(
      `${p}-fleet`,
      {
        prefix: p,
        tags,
        instanceTypes: own.instanceTypes,
        capacity: spec.capacity,
        amiParameter: spec.tier.aws.ami.ssmParameter,
        rootVolumeGb: own.rootVolumeGb,
        // Lightweight: public subnets (Elastic IP, no NAT). Co-located data: the volume's AZ only.
        subnetIds: (alb ? network.privateSubnetIds : network.publicSubnetIds).slice(0, colocated ? 1 : 2),
        securityGroupIds: alb
          ? [network.appSecurityGroupId]
          : [network.appSecurityGroupId, network.edgeSecurityGroupId],
        targetGroupArns: ledge ? [ledge.targetGroupArn] : [],
        minSize: spec.scaling.min,
        maxSize: spec.scaling.max,
        desiredCapacity: own.desiredCapacity,
        cpuTargetPercent: spec.scaling.cpuTargetPercent,
        userData,
        bucketArn: store.bucketArn,
        modelPrefix: own.storage.modelPrefix,
        logPrefix: own.storage.logPrefix,
        secretArns: secrets.secretArns,
        eipAllocationArn: iedge?.allocationArn,
        dataVolumeArn: volume?.volumeArn,
        drainSeconds: stopGrace,
        healthCheckGraceSeconds: spec.tier.gpu ? 600 : 300,
      },
      { parent: this, dependsOn: [observability] },
    );

    this.url = ledge ? ledge.url : iedge!.url;
    this.bucketName = store.bucketName;
    this.alarmTopicArn = observability.alarmTopicArn;
    this.dashboardUrl = observability.dashboardUrl;
    this.registerOutputs({
      url: this.url,
      bucketName: this.bucketName,
      alarmTopicArn: this.alarmTopicArn,
      dashboardUrl: this.dashboardUrl,
    });
  }
}

type CloudInitLogGroups = Parameters<typeof renderCloudInit>[0]['logGroups'];
