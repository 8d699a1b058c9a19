/**
 * Where the logs users keep land in the bucket, and who may write them there. Pure: paths and
 * bucket-policy statements from resolved strings; ./storage.ts and ./log-archive.ts wire them.
 *
 *   logs/<stack>/cloudwatch/YYYY/MM/DD/…   api/worker (and data, cloud-init) logs via Firehose, gzip
 *   logs/<stack>/cloudwatch-errors/…        records Firehose could not process
 *   logs/<stack>/alb/AWSLogs/<account>/…    ALB access logs
 *   logs/<stack>/vpc-flow/AWSLogs/<account>/… VPC flow logs
 *   logs/<stack>/<instance id>/…            Caddy access logs archived by the instance (tier lightweight)
 */

/** Key prefixes under the bucket's log prefix; every one is archived and expired by the lifecycle rules. */
export function logArchivePaths(logPrefix: string, stack: string) {
  const root = `${logPrefix}${stack}`;
  return {
    /** Firehose's prefix, with its date partition (`!{timestamp:…}` is Firehose's own syntax). */
    cloudwatch: `${root}/cloudwatch/!{timestamp:yyyy/MM/dd}/`,
    cloudwatchErrors: `${root}/cloudwatch-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
    /** The ALB's `accessLogs.prefix`: no leading or trailing slash. */
    alb: `${root}/alb`,
    /** The flow log's S3 destination folder. */
    flow: `${root}/vpc-flow/`,
  };
}

/**
 * The Elastic Load Balancing account of each region that existed before August 2022; ALB access
 * logs in those regions are written by it. Newer regions use the log delivery service principal.
 */
export const ELB_ACCOUNTS: Record<string, string> = {
  'us-east-1': '127311923021',
  'us-east-2': '033677994240',
  'us-west-1': '027434742980',
  'us-west-2': '797873946194',
  'af-south-1': '098369216593',
  'ap-east-1': '754344448648',
  'ap-southeast-3': '589379963580',
  'ap-south-1': '718504428378',
  'ap-northeast-3': '383597477331',
  'ap-northeast-2': '600734575887',
  'ap-southeast-1': '114774131450',
  'ap-southeast-2': '783225319266',
  'ap-northeast-1': '582318560864',
  'ca-central-1': '985666609251',
  'eu-central-1': '054676820928',
  'eu-west-1': '156460612806',
  'eu-west-2': '652711504416',
  'eu-south-1': '635631232127',
  'eu-west-3': '009996457667',
  'eu-north-1': '897822967062',
  'me-south-1': '076674570225',
  'sa-east-1': '507241528517',
  'us-gov-west-1': '048591011584',
  'us-gov-east-1': '190560391635',
};

/** Who writes ALB access logs in a region (see {@link ELB_ACCOUNTS}). */
export function elbLogWriter(region: string): Record<string, string> {
  const account = ELB_ACCOUNTS[region];
  const partition = region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return account
    ? { AWS: `arn:${partition}:iam::${account}:root` }
    : { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' };
}

export interface LogDeliveryParams {
  bucketArn: string;
  region: string;
  accountId: string;
  /** {@link logArchivePaths}. */
  paths: { alb: string; flow: string };
  albAccessLogs: boolean;
  flowLogs: boolean;
}

/**
 * Bucket-policy statements that let the ALB and VPC flow logs write their logs (and nothing else).
 * Declared here rather than left to AWS: flow logs would otherwise rewrite the bucket policy Pulumi
 * owns, and the ALB checks its write access when access logs are turned on.
 */
export function logDeliveryStatements(p: LogDeliveryParams): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (p.albAccessLogs)
    out.push({
      Sid: 'AlbAccessLogs',
      Effect: 'Allow',
      Principal: elbLogWriter(p.region),
      Action: 's3:PutObject',
      Resource: `${p.bucketArn}/${p.paths.alb}/AWSLogs/${p.accountId}/*`,
    });
  if (p.flowLogs) {
    const fromThisAccount = {
      StringEquals: { 'aws:SourceAccount': p.accountId },
      ArnLike: { 'aws:SourceArn': `arn:aws:logs:${p.region}:${p.accountId}:*` },
    };
    out.push(
      {
        Sid: 'FlowLogsWrite',
        Effect: 'Allow',
        Principal: { Service: 'delivery.logs.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: `${p.bucketArn}/${p.paths.flow}AWSLogs/${p.accountId}/*`,
        Condition: {
          ...fromThisAccount,
          StringEquals: { ...fromThisAccount.StringEquals, 's3:x-amz-acl': 'bucket-owner-full-control' },
        },
      },
      {
        Sid: 'FlowLogsAclCheck',
        Effect: 'Allow',
        Principal: { Service: 'delivery.logs.amazonaws.com' },
        Action: ['s3:GetBucketAcl', 's3:ListBucket'],
        Resource: p.bucketArn,
        Condition: fromThisAccount,
      },
    );
  }
  return out;
}
