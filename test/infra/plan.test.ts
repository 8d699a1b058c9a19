/** The offline plan: labelled as offline, grouped by component, a --compare diff, config errors. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { planCommand } from '../../scripts/plan/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

async function plan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await planCommand(args, { log: (t) => stdout.push(t), error: (t) => stderr.push(t) });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

describe('offline plan (npm run plan)', () => {
  test('the CLI entry point prints an offline plan for --stack dev', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/plan.ts', '--stack', 'dev'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.match(stdout, /^OFFLINE PLAN — stack dev \(Pulumi\.dev\.yaml\)/);
    assert.match(stdout, /no cloud credentials, no Pulumi CLI/);
  });

  test('--stack dev: resources grouped by component with key settings, then outputs', async () => {
    const { code, stdout } = await plan('--stack', 'dev');
    assert.equal(code, 0);
    assert.match(stdout, /^AwsDeployment clawstack-dev {2}\(\d+ resources\)$/m);
    assert.match(stdout, /^ {2}AppFleet clawstack-dev-fleet/m);
    assert.match(
      stdout,
      /aws:autoscaling\/group clawstack-dev-asg {2}— min 1 \/ desired 1 \/ max 1, spot price-capacity-optimized over t3\.medium/,
    );
    assert.match(
      stdout,
      /aws:ec2\/launchTemplate clawstack-dev-lt {2}— t3\.medium, AMI resolve:ssm:\/aws\/service\/\S+, IMDSv2 required, root 50 GB gp3 encrypted/,
    );
    assert.match(
      stdout,
      /aws:ec2\/networkAcl clawstack-dev-public-acl {2}— in: 50 deny tcp\/22 0\.0\.0\.0\/0/,
    );
    assert.match(stdout, /^Outputs:\n/m);
    assert.match(stdout, /url: https:\/\/dev\.clawstack\.example\.com/);
  });

  test('--set and --compare show what a tier switch changes', async () => {
    const { code, stdout } = await plan(
      '--stack',
      'staging',
      '--set',
      'capacity=on-demand',
      '--compare',
      'tier=gpu',
    );
    assert.equal(code, 0);
    assert.match(
      stdout,
      /OFFLINE PLAN — stack staging \(Pulumi\.staging\.yaml \+ --set capacity=on-demand\) compared with --compare tier=gpu/,
    );
    assert.match(
      stdout,
      /~ aws:ec2\/launchTemplate clawstack-staging-lt\n {6}c6i\.xlarge, AMI resolve:ssm:\/aws\/service\/ami-amazon-linux-latest\/\S+.*\n {4}→ g4dn\.xlarge, AMI resolve:ssm:\/aws\/service\/deeplearning\/\S+, IMDSv2 required, root 150 GB/,
    );
    assert.match(stdout, /"executionProvider":"cpu"[\s\S]*→ .*"executionProvider":"cuda"/);
  });

  test('--compare with --policy judges the compared config: a switch that breaks a rule exits 1', async () => {
    const ok = await plan('--stack', 'dev', '--compare', 'tier=gpu', '--policy');
    assert.equal(ok.code, 0);
    assert.match(
      ok.stdout,
      /^POLICY of the compared config \(infra\/policy, \d+ mandatory rules\): all pass$/m,
    );
    const bad = await plan('--stack', 'dev', '--compare', 'aws.archiveAfterDays=45', '--policy');
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /POLICY of the compared config .*: 1 violation\(s\)/);
    assert.match(bad.stdout, /first transition is after 45 days; archive within 30/);
  });

  test('a bad --set fails with the config error and a non-zero exit', async () => {
    const { code, stderr } = await plan('--stack', 'dev', '--set', 'tier=huge');
    assert.equal(code, 1);
    assert.match(
      stderr,
      /FAILED before creating anything: invalid stack config clawstack:tier = "huge"; allowed: lightweight \| general \| gpu/,
    );
  });
});
