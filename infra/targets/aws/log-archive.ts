import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { assumableBy } from './iam.ts';
import { logArchivePaths } from './log-delivery.ts';

/** Firehose writes an object when this much has arrived (MiB, its maximum)… */
export const ARCHIVE_BUFFER_MIB = 128;
/** …or this many seconds have passed (its maximum): few, large objects that the archive transition applies to. */
export const ARCHIVE_BUFFER_SECONDS = 900;

export interface LogArchiveArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Stack name: the key prefix `<logPrefix><stack>/…` in the bucket. */
  stack: string;
  region: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  /** The bucket's log prefix (lifecycle: archive, then expire). */
  logPrefix: string;
  /** Log groups whose every event is copied to the bucket, by role (their names carry the dependency). */
  logGroupNames: Record<string, pulumi.Input<string>>;
  /** VPC flow logs of this VPC to the bucket, when set. */
  flowLogVpcId?: pulumi.Input<string>;
  /** The bucket policy that lets flow logs write (it must exist first). */
  bucketPolicy: pulumi.Resource;
}

/**
 * The logs users keep, into the bucket: a CloudWatch Logs subscription on each app log group feeds a
 * Firehose stream that decompresses CloudWatch's envelopes, keeps the log lines, and writes gzip
 * objects under `logs/<stack>/cloudwatch/`; VPC flow logs go to `logs/<stack>/vpc-flow/`.
 */
export class LogArchive extends pulumi.ComponentResource {
  readonly deliveryStreamArn: pulumi.Output<string>;

  constructor(name: string, args: LogArchiveArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:LogArchive', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const paths = logArchivePaths(args.logPrefix, args.stack);
    const account = pulumi.output(args.accountId);

    // Firehose may write under the stack's log prefix in this bucket, nothing more.
    const firehoseRole = new aws.iam.Role(
      `${p}-firehose-role`,
      {
        assumeRolePolicy: account.apply((id) =>
          assumableBy('firehose.amazonaws.com', { StringEquals: { 'sts:ExternalId': id } }),
        ),
        tags: args.tags,
      },
      parent,
    );
    const firehosePolicy = new aws.iam.RolePolicy(
      `${p}-firehose-policy`,
      {
        role: firehoseRole.id,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'Bucket',
              Effect: 'Allow',
              Action: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
              Resource: args.bucketArn,
            },
            {
              Sid: 'WriteArchivedLogs',
              Effect: 'Allow',
              Action: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
              Resource: pulumi.interpolate`${args.bucketArn}/${args.logPrefix}${args.stack}/*`,
            },
          ],
        }),
      },
      parent,
    );
    const stream = new aws.kinesis.FirehoseDeliveryStream(
      `${p}-log-archive`,
      {
        name: `${p}-log-archive`,
        destination: 'extended_s3',
        extendedS3Configuration: {
          roleArn: firehoseRole.arn,
          bucketArn: args.bucketArn,
          prefix: paths.cloudwatch,
          errorOutputPrefix: paths.cloudwatchErrors,
          bufferingSize: ARCHIVE_BUFFER_MIB,
          bufferingInterval: ARCHIVE_BUFFER_SECONDS,
          compressionFormat: 'GZIP',
          // CloudWatch Logs sends gzip'd JSON envelopes; keep only the log lines, one per line.
          processingConfiguration: {
            enabled: true,
            processors: [
              {
                type: 'Decompression',
                parameters: [{ parameterName: 'CompressionFormat', parameterValue: 'GZIP' }],
              },
              {
                type: 'CloudWatchLogProcessing',
                parameters: [{ parameterName: 'DataMessageExtraction', parameterValue: 'true' }],
              },
            ],
          },
        },
        tags: args.tags,
      },
      { parent: this, dependsOn: [firehosePolicy] },
    );
    this.deliveryStreamArn = stream.arn;

    // CloudWatch Logs (for this account's log groups only) may put records into this stream.
    const logsRole = new aws.iam.Role(
      `${p}-logs-to-firehose-role`,
      {
        assumeRolePolicy: pulumi.all([args.region, account]).apply(([region, id]) =>
          assumableBy('logs.amazonaws.com', {
            StringLike: {
              'aws:SourceArn': `arn:aws:logs:${region}:${id}:log-group:/clawstack/${args.stack}/*`,
            },
          }),
        ),
        tags: args.tags,
      },
      parent,
    );
    const logsPolicy = new aws.iam.RolePolicy(
      `${p}-logs-to-firehose-policy`,
      {
        role: logsRole.id,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['firehose:PutRecord', 'firehose:PutRecordBatch'],
              Resource: stream.arn,
            },
          ],
        }),
      },
      parent,
    );
    for (const [role, logGroup] of Object.entries(args.logGroupNames))
      new aws.cloudwatch.LogSubscriptionFilter(
        `${p}-archive-${role}`,
        {
          name: `${p}-archive`,
          logGroup,
          // Every event.
          filterPattern: '',
          destinationArn: stream.arn,
          roleArn: logsRole.arn,
        },
        // CloudWatch test-delivers when the filter is created: the role must already allow it.
        { parent: this, dependsOn: [logsPolicy] },
      );

    if (args.flowLogVpcId)
      new aws.ec2.FlowLog(
        `${p}-flow-log`,
        {
          vpcId: args.flowLogVpcId,
          trafficType: 'ALL',
          logDestinationType: 's3',
          logDestination: pulumi.interpolate`${args.bucketArn}/${paths.flow}`,
          maxAggregationInterval: 600,
          destinationOptions: { fileFormat: 'plain-text', perHourPartition: true },
          tags: { ...args.tags, Name: `${p}-flow-log` },
        },
        { parent: this, dependsOn: [args.bucketPolicy] },
      );

    this.registerOutputs({ deliveryStreamArn: this.deliveryStreamArn });
  }
}
