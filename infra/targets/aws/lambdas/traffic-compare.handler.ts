/** Lambda entry of the traffic comparison: the real CloudWatch client (the runtime ships AWS SDK v3). */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { compareTraffic, trafficConfig } from './traffic-compare.ts';

const cw = new CloudWatchClient({});
const config = trafficConfig(process.env);

export const handler = () => compareTraffic(cw, config, new Date());
