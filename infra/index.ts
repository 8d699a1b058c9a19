/**
 * clawstack's Pulumi program: stack config → validated spec → one deployment component.
 * `clawstack:target` picks the component; see docs/infra.md for every config key.
 */
import { AwsDeployment } from './aws/index.ts';
import { BUILT_TARGETS, loadSpec, StackConfigError } from './config.ts';

const spec = loadSpec();

function deploy() {
  switch (spec.target) {
    case 'aws':
      return new AwsDeployment(spec.prefix, { spec });
    default:
      // config.ts already rejects targets that are not built; this keeps the switch honest.
      throw new StackConfigError('clawstack:target', spec.target, BUILT_TARGETS.join(' | '), 'not built yet');
  }
}

const deployment = deploy();

export const url = deployment.url;
export const bucket = deployment.bucketName;
export const alarmTopic = deployment.alarmTopicArn;
export const dashboardUrl = deployment.dashboardUrl;
export const tier = deployment.tierSummary;
