import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

import { DB_NAME, DB_USER, POSTGRES_PORT, REDIS_PORT } from '../../workload/index.ts';
import { assumableBy } from './iam.ts';
import { RDS_CA_IDENTIFIER } from './rds-ca.ts';

export interface ManagedDataServicesArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** VPC of the data security group. */
  vpcId: pulumi.Input<string>;
  /** Private subnets in two AZs (RDS and ElastiCache subnet groups need two). */
  subnetIds: pulumi.Input<string>[];
  /** The only security group admitted to Postgres and Redis. */
  appSecurityGroupId: pulumi.Input<string>;
  /** Master password (a Pulumi secret). */
  dbPassword: pulumi.Input<string>;
  /** Redis AUTH token (a Pulumi secret). */
  redisAuthToken: pulumi.Input<string>;
  /** RDS instance class, e.g. db.t4g.small. */
  dbInstanceClass: string;
  /** Initial storage (GiB, gp3, encrypted); storage autoscaling allows up to 5×. */
  dbAllocatedStorageGb: number;
  /** Automated backups are always on; this is how many days they are kept. */
  dbBackupRetentionDays: number;
  /** A standby in the second AZ for Postgres, and a replica with automatic failover for Redis. */
  multiAz: boolean;
  /** ElastiCache node type, e.g. cache.t4g.small. */
  cacheNodeType: string;
  /** Refuse deletion of the database (and take a final snapshot when it is deleted anyway). */
  deletionProtection: boolean;
  /** Apply modifications (instance class, node type) now, not in the next maintenance window. */
  applyImmediately: boolean;
}

/**
 * RDS Postgres (encrypted, private, backups on, SSL forced) and ElastiCache Redis (TLS in transit,
 * encrypted at rest, AUTH token), reachable only from the app's security group.
 */
export class ManagedDataServices extends pulumi.ComponentResource {
  readonly dbAddress: pulumi.Output<string>;
  readonly dbInstanceIdentifier: pulumi.Output<string>;
  readonly dbInstanceArn: pulumi.Output<string>;
  readonly redisAddress: pulumi.Output<string>;
  readonly replicationGroupId: pulumi.Output<string>;
  readonly replicationGroupArn: pulumi.Output<string>;
  /** The data services' security group (the database-login rotation function is admitted to it). */
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: ManagedDataServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:ManagedDataServices', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const tags = (n: string) => ({ ...args.tags, Name: `${p}-${n}` });

    const sg = new aws.ec2.SecurityGroup(
      `${p}-data-sg`,
      {
        vpcId: args.vpcId,
        description: 'clawstack data services: app security group only',
        tags: tags('data-sg'),
      },
      parent,
    );
    this.securityGroupId = sg.id;
    for (const [n, port] of [
      ['postgres', POSTGRES_PORT],
      ['redis', REDIS_PORT],
    ] as const) {
      new aws.vpc.SecurityGroupIngressRule(
        `${p}-data-${n}-from-app`,
        {
          securityGroupId: sg.id,
          ipProtocol: 'tcp',
          fromPort: port,
          toPort: port,
          referencedSecurityGroupId: args.appSecurityGroupId,
          description: `${n} from app instances`,
          tags: tags(`data-${n}-from-app`),
        },
        parent,
      );
    }

    const dbSubnets = new aws.rds.SubnetGroup(
      `${p}-db-subnets`,
      { subnetIds: args.subnetIds, tags: tags('db-subnets') },
      parent,
    );
    const dbParams = new aws.rds.ParameterGroup(
      `${p}-db-params`,
      {
        family: 'postgres16',
        description: 'clawstack: SSL required',
        parameters: [{ name: 'rds.force_ssl', value: '1', applyMethod: 'pending-reboot' }],
        tags: tags('db-params'),
      },
      parent,
    );
    const db = new aws.rds.Instance(
      `${p}-db`,
      {
        engine: 'postgres',
        engineVersion: '16',
        instanceClass: args.dbInstanceClass,
        allocatedStorage: args.dbAllocatedStorageGb,
        maxAllocatedStorage: args.dbAllocatedStorageGb * 5,
        storageType: 'gp3',
        storageEncrypted: true,
        dbName: DB_NAME,
        username: DB_USER,
        password: args.dbPassword,
        port: POSTGRES_PORT,
        dbSubnetGroupName: dbSubnets.name,
        parameterGroupName: dbParams.name,
        vpcSecurityGroupIds: [sg.id],
        publiclyAccessible: false,
        multiAz: args.multiAz,
        backupRetentionPeriod: args.dbBackupRetentionDays,
        copyTagsToSnapshot: true,
        deletionProtection: args.deletionProtection,
        skipFinalSnapshot: !args.deletionProtection,
        finalSnapshotIdentifier: args.deletionProtection ? `${p}-db-final` : undefined,
        autoMinorVersionUpgrade: true,
        // The CA the app verifies against (shipped to instances by ./rds-ca.ts).
        caCertIdentifier: RDS_CA_IDENTIFIER,
        applyImmediately: args.applyImmediately,
        tags: tags('db'),
      },
      parent,
    );
    this.dbAddress = db.address;
    this.dbInstanceIdentifier = db.identifier;
    this.dbInstanceArn = db.arn;

    const cacheSubnets = new aws.elasticache.SubnetGroup(
      `${p}-redis-subnets`,
      { subnetIds: args.subnetIds, tags: tags('redis-subnets') },
      parent,
    );
    // BullMQ needs noeviction: an evicted job key is a lost job.
    const cacheParams = new aws.elasticache.ParameterGroup(
      `${p}-redis-params`,
      {
        family: 'redis7',
        description: 'clawstack: noeviction for BullMQ',
        parameters: [{ name: 'maxmemory-policy', value: 'noeviction' }],
        tags: tags('redis-params'),
      },
      parent,
    );
    const redis = new aws.elasticache.ReplicationGroup(
      `${p}-redis`,
      {
        replicationGroupId: `${p}-redis`.slice(0, 40).replace(/-+$/, ''),
        description: 'clawstack queue, result cache and rate limits',
        engine: 'redis',
        engineVersion: '7.1',
        nodeType: args.cacheNodeType,
        numCacheClusters: args.multiAz ? 2 : 1,
        automaticFailoverEnabled: args.multiAz,
        multiAzEnabled: args.multiAz,
        port: REDIS_PORT,
        parameterGroupName: cacheParams.name,
        subnetGroupName: cacheSubnets.name,
        securityGroupIds: [sg.id],
        transitEncryptionEnabled: true,
        atRestEncryptionEnabled: true,
        authToken: args.redisAuthToken,
        snapshotRetentionLimit: 1,
        applyImmediately: args.applyImmediately,
        tags: tags('redis'),
      },
      parent,
    );
    this.redisAddress = redis.primaryEndpointAddress;
    this.replicationGroupId = redis.replicationGroupId;
    this.replicationGroupArn = redis.arn;

    this.registerOutputs({ dbAddress: this.dbAddress, redisAddress: this.redisAddress });
  }
}

export interface ColocatedDataVolumeArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** The volume lives in one AZ; the Auto Scaling group is pinned to it. */
  availabilityZone: pulumi.Input<string>;
  /** Size in GiB (gp3, encrypted). */
  sizeGb: number;
  /** Daily snapshots (Data Lifecycle Manager) kept. */
  snapshotDays: number;
  /** Pulumi refuses to delete the volume (`protect`) until this is turned off. */
  protect: boolean;
}

/** The tag Data Lifecycle Manager finds the data volume by. */
export const SNAPSHOT_TAG = 'clawstack-snapshot';

/**
 * A persistent, encrypted EBS volume for co-located Redis and Postgres data. It outlives instances
 * (spot interruptions, instance refresh): each new instance attaches and mounts it at boot. Data
 * Lifecycle Manager snapshots it daily; with deletion protection, Pulumi refuses to delete it.
 */
export class ColocatedDataVolume extends pulumi.ComponentResource {
  readonly volumeId: pulumi.Output<string>;
  readonly volumeArn: pulumi.Output<string>;

  constructor(name: string, args: ColocatedDataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:ColocatedDataVolume', name, {}, opts);
    const p = args.prefix;
    const volume = new aws.ebs.Volume(
      `${p}-data`,
      {
        availabilityZone: args.availabilityZone,
        size: args.sizeGb,
        type: 'gp3',
        encrypted: true,
        tags: { ...args.tags, Name: `${p}-data`, [SNAPSHOT_TAG]: `${p}-data` },
      },
      { parent: this, protect: args.protect },
    );
    this.volumeId = volume.id;
    this.volumeArn = volume.arn;

    // Daily snapshots by Data Lifecycle Manager, found by tag, the oldest deleted past the count.
    const role = new aws.iam.Role(
      `${p}-dlm-role`,
      {
        assumeRolePolicy: assumableBy('dlm.amazonaws.com'),
        tags: args.tags,
      },
      { parent: this },
    );
    const attached = new aws.iam.RolePolicyAttachment(
      `${p}-dlm-service-role`,
      {
        role: role.name,
        policyArn: 'arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole',
      },
      { parent: this },
    );
    new aws.dlm.LifecyclePolicy(
      `${p}-data-snapshots`,
      {
        description: `${p}: daily snapshots of the data volume, ${args.snapshotDays} kept`,
        executionRoleArn: role.arn,
        state: 'ENABLED',
        policyDetails: {
          resourceTypes: ['VOLUME'],
          targetTags: { [SNAPSHOT_TAG]: `${p}-data` },
          schedules: [
            {
              name: `daily-${args.snapshotDays}`,
              createRule: { interval: 24, intervalUnit: 'HOURS', times: '03:00' },
              retainRule: { count: args.snapshotDays },
              copyTags: true,
            },
          ],
        },
        tags: args.tags,
      },
      { parent: this, dependsOn: [attached] },
    );
    this.registerOutputs({ volumeId: this.volumeId });
  }
}
