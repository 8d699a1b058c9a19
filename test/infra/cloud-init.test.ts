/**
 * The user-data every combination generates is valid cloud-config (checked by the real
 * `cloud-init schema`, Debian package cloud-init) and its shell scripts parse (`bash -n`).
 * Tests that need cloud-init skip, saying why, where it is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { runProgram } from '../../scripts/plan/harness.ts';
import { COMBINATIONS, configFor, label, userDataOf } from './helpers.ts';

const cloudInit = spawnSync('cloud-init', ['--version'], { encoding: 'utf8' });
const skipCloudInit =
  cloudInit.error || cloudInit.status !== 0
    ? 'cloud-init is not installed (apt-get install cloud-init; .ci/run installs it)'
    : false;

interface WriteFile {
  path: string;
  content: string;
  permissions: string;
}

describe('cloud-init user-data', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clawstack-cloud-init-'));
  const docs = new Map<string, string>();
  const verdicts = new Map<string, Promise<{ code: number; output: string }>>();
  const schema = (file: string) =>
    new Promise<{ code: number; output: string }>((resolve) => {
      execFile('cloud-init', ['schema', '--config-file', file], (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
      );
    });
  before(async () => {
    for (const combo of COMBINATIONS) {
      const run = await runProgram(configFor(combo));
      assert.equal(run.error, undefined, run.error?.message);
      const name = label(combo);
      docs.set(name, userDataOf(run));
      // cloud-init starts slowly; validate while the next program runs.
      if (!skipCloudInit) {
        const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
        writeFileSync(file, docs.get(name)!);
        verdicts.set(name, schema(file));
      }
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the negative control: cloud-init schema rejects a broken document', { skip: skipCloudInit }, () => {
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(
      file,
      '#cloud-config\nwrite_files:\n  - content: no path here\n    permissions: 644\nruncmd: "not a list"\n',
    );
    const result = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
    assert.notEqual(result.status, 0, result.stdout + result.stderr);
  });

  for (const combo of COMBINATIONS) {
    const name = label(combo);
    test(`${name}: valid per \`cloud-init schema\``, { skip: skipCloudInit }, async () => {
      const result = await verdicts.get(name)!;
      assert.equal(result.code, 0, `cloud-init schema failed:\n${result.output}`);
      assert.match(result.output, /Valid cloud-config/);
    });

    test(`${name}: scripts parse, units and files are where systemd and the agent expect them`, () => {
      const text = docs.get(name)!;
      assert.ok(text.startsWith('#cloud-config\n'));
      const doc = parse(text) as { packages: string[]; write_files: WriteFile[]; runcmd: string[][] };
      assert.ok(doc.packages.includes('docker') && doc.packages.includes('amazon-cloudwatch-agent'));
      const files = new Map(doc.write_files.map((f) => [f.path, f]));
      for (const f of doc.write_files.filter((x) => x.content.startsWith('#!/bin/bash'))) {
        execFileSync('bash', ['-n'], { input: f.content });
        assert.match(f.permissions, /^07[05][05]$/, `${f.path} is executable`);
      }
      for (const unit of [
        'clawstack-prepare.service',
        'clawstack-api.service',
        'clawstack-worker.service',
        'clawstack-drain.service',
        'clawstack-cleanup.timer',
      ]) {
        assert.ok(files.has(`/etc/systemd/system/${unit}`), unit);
      }
      assert.match(files.get('/etc/systemd/system/clawstack-cleanup.timer')!.content, /OnCalendar=daily/);
      assert.match(files.get('/etc/systemd/system/clawstack-api.service')!.content, /--log-driver awslogs/);
      // Memory metrics for the memory alarm, grouped by Auto Scaling group.
      const agent = JSON.parse(
        files.get('/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json')!.content,
      ) as Record<string, Record<string, unknown>>;
      assert.deepEqual(agent.metrics!.aggregation_dimensions, [['AutoScalingGroupName']]);
      assert.ok(JSON.stringify(agent.metrics!.metrics_collected).includes('mem_available'));
      // The drain agent watches both the spot notice and the Auto Scaling lifecycle state.
      const drain = files.get('/usr/local/bin/clawstack-drain')!.content;
      assert.match(drain, /spot\/instance-action/);
      assert.match(drain, /autoscaling\/target-lifecycle-state/);
      assert.match(drain, /complete-lifecycle-action/);
      // Secrets are fetched at boot into a root-only file; user-data carries placeholders.
      assert.match(files.get('/usr/local/bin/clawstack-secrets')!.content, /umask 077/);
      assert.equal(files.get('/usr/local/bin/clawstack-secrets')!.permissions, '0700');
      const last = doc.runcmd.at(-1)!;
      assert.deepEqual(last.slice(0, 4), ['systemctl', 'enable', '--now', '--no-block']);
      if (combo.tier === 'lightweight')
        assert.match(files.get('/etc/clawstack/Caddyfile')!.content, /redir https:\/\/\{host\}\{uri\} 301/);
      if (combo.capacity === 'spot') assert.match(text, /STOP_GRACE_SECONDS=95\n/);
    });
  }

  test('the gzip-compressed user-data stays under the EC2 16 KB limit', () => {
    for (const [name, text] of docs) {
      const size = execFileSync('gzip', ['-9c'], { input: text }).length;
      assert.ok(size < 16 * 1024, `${name}: ${size} bytes`);
    }
  });
});
