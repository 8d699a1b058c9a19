import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { logArchivePaths, logDeliveryStatements } from './log-delivery.ts';

export interface ObjectStoreArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Key prefix the app reads models from (MODEL_SOURCE). */
  modelPrefix: string;
  /** Key prefix instances archive old logs to; the archive transition applies here. */
  logPrefix: string;
  /** Days after which archived logs move to {@link archiveStorageClass}. */
  archiveAfterDays: number;
  /** S3 storage class for archived logs (GLACIER_IR keeps them readable in milliseconds). */
  archiveStorageClass: string;
  /** Noncurrent object versions are deleted after this many days. */
  noncurrentVersionDays: number;
  /** Archived logs are deleted this many days after they were written. */
  logArchiveDays: number;
  /** ALB access logs and VPC flow logs that may write under the log prefix (bucket-policy grants). */
  logDelivery: {
    stack: string;
    region: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    albAccessLogs: boolean;
    flowLogs: boolean;
  };
}

/**
 * The S3 bucket for models and archived logs: private, versioned, encrypted, TLS 1.2+ only.
 *
 * The archive transition is scoped to the log prefix: models are read at every instance boot,
 * and a model in a Glacier class would need a restore before it could be read.
 */
export class ObjectStore extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  /** The bucket policy: log writers (ALB, flow logs) must wait for it. */
  readonly policy: aws.s3.BucketPolicy;

  constructor(name: string, args: ObjectStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:ObjectStore', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };

    const bucket = new aws.s3.Bucket(
      `${p}-bucket`,
      { forceDestroy: false, tags: { ...args.tags, Name: `${p}-bucket` } },
      parent,
    );
    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;

    new aws.s3.BucketVersioning(
      `${p}-bucket-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: 'Enabled' } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${p}-bucket-sse`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
      },
      parent,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${p}-bucket-pab`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    // S3 refuses concurrent configuration changes on one bucket (OperationAborted): one at a time.
    const ownership = new aws.s3.BucketOwnershipControls(
      `${p}-bucket-ownership`,
      { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } },
      { parent: this, dependsOn: [publicAccess] },
    );
    const d = args.logDelivery;
    const delivery = pulumi.all([bucket.arn, d.region, d.accountId]).apply(([bucketArn, region, accountId]) =>
      logDeliveryStatements({
        bucketArn,
        region,
        accountId,
        paths: logArchivePaths(args.logPrefix, d.stack),
        albAccessLogs: d.albAccessLogs,
        flowLogs: d.flowLogs,
      }),
    );
    this.policy = new aws.s3.BucketPolicy(
      `${p}-bucket-policy`,
      {
        bucket: bucket.id,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: pulumi.all([delivery, bucket.arn]).apply(([grants, arn]) => [
            ...grants,
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [arn, `${arn}/*`],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
            {
              Sid: 'DenyTlsOlderThan12',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [arn, `${arn}/*`],
              Condition: { NumericLessThan: { 's3:TlsVersion': '1.2' } },
            },
          ]),
        }),
      },
      // The public-access block must exist first or S3 may evaluate the policy as public.
      { parent: this, dependsOn: [publicAccess, ownership] },
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${p}-bucket-lifecycle`,
      {
        bucket: bucket.id,
        // Objects under 128 KB go to GLACIER and DEEP_ARCHIVE too; the other classes bill at least
        // 128 KB per object, so S3 keeps smaller ones in STANDARD (Firehose's buffering makes few).
        transitionDefaultMinimumObjectSize: 'varies_by_storage_class',
        rules: [
          {
            id: 'archive-logs',
            status: 'Enabled',
            filter: { prefix: args.logPrefix },
            transitions: [{ days: args.archiveAfterDays, storageClass: args.archiveStorageClass }],
            expiration: { days: args.logArchiveDays },
          },
          {
            id: 'expire-noncurrent-versions',
            status: 'Enabled',
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays },
          },
          {
            id: 'abort-incomplete-multipart-uploads',
            status: 'Enabled',
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      parent,
    );

    this.registerOutputs({ bucketName: this.bucketName });
  }
}
