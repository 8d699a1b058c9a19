/** The AWS target: `clawstack:target: aws`, section `clawstack:aws`. */
import { defineTarget } from '../types.ts';
import { AwsDeployment } from './index.ts';
import { AWS_KEYS, parseAwsSpec, singleInstance } from './spec.ts';
import type { AwsSpec } from './spec.ts';

export const awsTarget = defineTarget<AwsSpec>({
  name: 'aws',
  summary:
    'EC2 Auto Scaling fleet (or one instance), S3, Secrets Manager, CloudWatch, optional RDS/ElastiCache',
  keys: AWS_KEYS,
  defaults: {
    maxSize: (tier, dataServices, min) => (singleInstance(tier, dataServices) ? 1 : Math.max(min, 3)),
  },
  parse: (section, common) => parseAwsSpec(section, common),
  deploy(spec) {
    const d = new AwsDeployment(spec.prefix, { spec });
    return {
      url: d.url,
      tierSummary: d.tierSummary,
      extras: {
        bucket: d.bucketName,
        alarmTopic: d.alarmTopicArn,
        dashboardUrl: d.dashboardUrl,
        ...(d.bootstrapApiKeySecret ? { bootstrapApiKeySecret: d.bootstrapApiKeySecret } : {}),
      },
      bootstrapApiKey: d.bootstrapApiKey,
    };
  },
});
