/**
 * Every stack config that cannot work fails before any resource is registered, with an error
 * naming the key (clawstack:…), the bad value and the allowed values.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runProgram } from '../../scripts/plan/harness.ts';
import { TARGET_NAMES } from '../../infra/targets/index.ts';
import { configFor } from './helpers.ts';

const light = (extra: Record<string, unknown>) =>
  configFor({ tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' }, extra);
const general = (extra: Record<string, unknown>) =>
  configFor({ tier: 'general', capacity: 'on-demand', dataServices: 'managed' }, extra);

interface BadCase {
  name: string;
  config: Record<string, unknown>;
  key: string;
  value: string;
  allowed: RegExp;
}

const CASES: BadCase[] = [
  {
    name: 'unknown tier',
    config: light({ tier: 'huge' }),
    key: 'clawstack:tier',
    value: '"huge"',
    allowed: /allowed: lightweight \| general \| gpu/,
  },
  {
    name: 'unknown capacity',
    config: light({ capacity: 'preemptible' }),
    key: 'clawstack:capacity',
    value: '"preemptible"',
    allowed: /on-demand \| spot/,
  },
  {
    name: 'unknown target',
    config: light({ target: 'azure' }),
    key: 'clawstack:target',
    value: '"azure"',
    allowed: new RegExp(`allowed: ${TARGET_NAMES.join(' \\| ')}$`),
  },
  ...TARGET_NAMES.filter((t) => t !== 'aws').map((other) => ({
    name: `a section of a target the stack does not use (${other})`,
    config: light({ [other]: { someKey: 1 } }),
    key: `clawstack:${other}`,
    value: 'someKey',
    allowed: /only the section of the chosen target \(clawstack:aws\)/,
  })),
  {
    name: 'misspelt key inside the target section',
    config: light({ aws: { instanceType: 't3.large' } }),
    key: 'clawstack:aws.instanceType',
    value: '"t3.large"',
    allowed: /unknown key; allowed: .*clawstack:aws\.instanceTypes/,
  },
  {
    name: 'a key named like an Object method (fuzzing found it crashed the parser)',
    config: light({ toString: 'x' }),
    key: 'clawstack:toString',
    value: '"x"',
    allowed: /unknown key/,
  },
  {
    name: 'a section key named like an Object method',
    config: light({ aws: { constructor: 1 } }),
    key: 'clawstack:aws.constructor',
    value: '1',
    allowed: /unknown key/,
  },
  {
    name: 'target section that is not a mapping',
    config: light({ aws: 'big' }),
    key: 'clawstack:aws',
    value: '"big"',
    allowed: /a mapping of keys to values/,
  },
  {
    name: 'misspelt key',
    config: light({ teir: 'gpu' }),
    key: 'clawstack:teir',
    value: '"gpu"',
    allowed: /unknown key; allowed: .*tier/,
  },
  {
    name: 'malformed VPC CIDR',
    config: light({ vpcCidr: '10.0.0.0/33' }),
    key: 'clawstack:aws.vpcCidr',
    value: '"10.0.0.0/33"',
    allowed: /IPv4 CIDR from \/16 to \/24/,
  },
  {
    name: 'VPC CIDR with host bits',
    config: light({ vpcCidr: '10.0.0.1/16' }),
    key: 'clawstack:aws.vpcCidr',
    value: '"10.0.0.1/16"',
    allowed: /IPv4 CIDR/,
  },
  {
    name: 'malformed allowed CIDR',
    config: general({ allowedCidrs: ['300.1.1.1/32'] }),
    key: 'clawstack:allowedCidrs',
    value: '300.1.1.1/32',
    allowed: /IPv4 CIDRs/,
  },
  {
    name: 'admin access open to the internet',
    config: light({ adminCidrs: ['0.0.0.0/0'] }),
    key: 'clawstack:adminCidrs',
    value: '0.0.0.0/0',
    allowed: /never open to the internet/,
  },
  {
    name: 'ALB tier without a certificate',
    config: general({ domain: undefined, hostedZoneId: undefined }),
    key: 'clawstack:aws.certificateArn',
    value: '(unset)',
    allowed: /ACM certificate ARN, or clawstack:domain \+ clawstack:aws\.hostedZoneId/,
  },
  {
    name: 'ALB tier with a domain but no zone',
    config: general({ hostedZoneId: undefined }),
    key: 'clawstack:aws.certificateArn',
    value: '(unset)',
    allowed: /clawstack:aws\.hostedZoneId/,
  },
  {
    name: 'malformed certificate ARN',
    config: general({ certificateArn: 'arn:aws:iam::123:cert/x' }),
    key: 'clawstack:aws.certificateArn',
    value: '"arn:aws:iam::123:cert/x"',
    allowed: /ACM certificate ARN/,
  },
  {
    name: 'lightweight with an ACM certificate',
    config: light({
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000',
    }),
    key: 'clawstack:aws.certificateArn',
    value: 'arn:aws:acm',
    allowed: /Caddy obtains one/,
  },
  {
    name: 'lightweight without a domain',
    config: light({ domain: undefined, hostedZoneId: undefined }),
    key: 'clawstack:domain',
    value: '(unset)',
    allowed: /resolves to the Elastic IP/,
  },
  {
    name: 'lightweight behind restricted CIDRs (ACME cannot reach it)',
    config: light({ allowedCidrs: ['203.0.113.0/24'] }),
    key: 'clawstack:allowedCidrs',
    value: '203.0.113.0/24',
    allowed: /\["0\.0\.0\.0\/0"\] on tier lightweight/,
  },
  {
    name: 'lightweight with a WAF',
    config: light({ wafRateLimit: 1000 }),
    key: 'clawstack:aws.wafRateLimit',
    value: '1000',
    allowed: /WAF attaches to a load balancer/,
  },
  {
    name: 'zone without a domain',
    config: general({ domain: undefined }),
    key: 'clawstack:domain',
    value: '(unset)',
    allowed: /DNS name inside clawstack:aws\.hostedZoneId/,
  },
  {
    name: 'min greater than max',
    config: general({ minSize: 5, maxSize: 2 }),
    key: 'clawstack:minSize',
    value: '5',
    allowed: /at most clawstack:maxSize \(2\)/,
  },
  {
    name: 'desired outside min..max',
    config: general({ minSize: 2, maxSize: 4, desiredCapacity: 9 }),
    key: 'clawstack:aws.desiredCapacity',
    value: '9',
    allowed: /between clawstack:minSize \(2\) and clawstack:maxSize \(4\)/,
  },
  {
    name: 'lightweight scaled out',
    config: light({ maxSize: 2 }),
    key: 'clawstack:maxSize',
    value: '2',
    allowed: /1 on tier lightweight/,
  },
  {
    name: 'co-located data scaled out',
    config: general({ dataServices: 'colocated' }),
    key: 'clawstack:maxSize',
    value: '4',
    allowed: /1 with clawstack:dataServices colocated/,
  },
  {
    name: 'spot with too few instance types',
    config: light({ capacity: 'spot', instanceTypes: ['t3.medium', 't3a.medium'] }),
    key: 'clawstack:aws.instanceTypes',
    value: 't3.medium',
    allowed: /at least 3 different instance types/,
  },
  {
    name: 'GPU tier on CPU instances',
    config: configFor(
      { tier: 'gpu', capacity: 'on-demand', dataServices: 'managed' },
      { instanceTypes: ['c6i.xlarge'] },
    ),
    key: 'clawstack:aws.instanceTypes',
    value: 'c6i.xlarge',
    allowed: /NVIDIA GPU instance types/,
  },
  {
    name: 'spot drain longer than the notice',
    config: light({ capacity: 'spot', drainTimeoutMs: 120000 }),
    key: 'clawstack:drainTimeoutMs',
    value: '120000',
    allowed: /at most 90000 with capacity spot/,
  },
  {
    name: 'log retention CloudWatch does not offer',
    config: light({ logRetentionDays: 42 }),
    key: 'clawstack:aws.logRetentionDays',
    value: '42',
    allowed: /1 \| 3 \| 5 \| 7 \| 14 \| 30/,
  },
  {
    name: 'unknown archive class',
    config: light({ archiveStorageClass: 'TAPE' }),
    key: 'clawstack:aws.archiveStorageClass',
    value: '"TAPE"',
    allowed: /GLACIER_IR \| GLACIER \| DEEP_ARCHIVE/,
  },
  {
    name: 'appEnv sets a variable infra owns',
    config: light({ appEnv: { REDIS_URL: 'redis://elsewhere:6379' } }),
    key: 'clawstack:appEnv',
    value: 'REDIS_URL',
    allowed: /REDIS_URL is set by infra; allowed: app variables except/,
  },
  {
    name: 'appEnv value the app rejects',
    config: light({ appEnv: { MAX_BATCH_SIZE: 0 } }),
    key: 'clawstack:appEnv',
    value: 'MAX_BATCH_SIZE',
    allowed: /MAX_BATCH_SIZE: .*allowed/,
  },
  {
    name: 'appEnv variable the app does not have',
    config: light({ appEnv: { GPU_MEMORY: '8g' } }),
    key: 'clawstack:appEnv',
    value: 'GPU_MEMORY',
    allowed: /GPU_MEMORY is not an app variable/,
  },
  {
    name: 'negative budget',
    config: light({ monthlyBudgetUsd: -5 }),
    key: 'clawstack:aws.monthlyBudgetUsd',
    value: '-5',
    allowed: /positive number of US dollars/,
  },
];

describe('bad stack config fails before any resource exists', () => {
  for (const c of CASES) {
    test(`${c.name} → ${c.key}`, async () => {
      const run = await runProgram(c.config);
      assert.ok(run.error, 'expected the program to fail');
      assert.equal(run.error.name, 'StackConfigError', run.error.message);
      assert.match(
        run.error.message,
        new RegExp(`^invalid stack config ${c.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} = `),
      );
      assert.ok(
        run.error.message.includes(c.value),
        `message shows the bad value ${c.value}: ${run.error.message}`,
      );
      assert.match(run.error.message, c.allowed);
      assert.deepEqual(
        run.resources.map((r) => r.type),
        [],
        'no resource may be registered',
      );
    });
  }
});
