/**
 * The GitHub workflows: each passes the workflow schema (@action-validator/core, offline), every
 * stack file gets an offline plan and a preview (the matrix comes from the stack files), main
 * deploys dev → staging → prod through environments with one concurrency group per stack, and the
 * image workflow produces the default image the stacks reference.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { DEFAULT_IMAGE } from '../../infra/spec/common.ts';
import { TIERS } from '../../infra/tiers.ts';
import { MARKER, planComment } from '../../scripts/ci/plan-comment.ts';
import { stackMatrix } from '../../scripts/ci/stacks.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = `${ROOT}.github/workflows/`;
const { validateWorkflow } = createRequire(import.meta.url)('@action-validator/core') as {
  validateWorkflow(src: string): { errors: unknown[] };
};
type Step = { uses?: string; run?: string; with?: Record<string, unknown>; if?: string };
type Job = {
  if?: string;
  needs?: string | string[];
  environment?: string;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean };
  strategy?: { matrix: unknown };
  steps: Step[];
  permissions?: Record<string, string>;
};
const workflow = (file: string) =>
  parse(readFileSync(DIR + file, 'utf8')) as { on: unknown; jobs: Record<string, Job> };
const stackFiles = () =>
  readdirSync(ROOT)
    .map((f) => /^Pulumi\.([\w-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();

describe('workflows', () => {
  test('every workflow passes the GitHub workflow schema', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
    assert.deepEqual(files.sort(), ['image.yml', 'main.yml', 'plan-comment.yml', 'pull-request.yml']);
    for (const f of files) assert.deepEqual(validateWorkflow(readFileSync(DIR + f, 'utf8')).errors, [], f);
  });

  test('the validator is not vacuous: a misspelt job key fails', () => {
    const bad = 'on: push\njobs:\n  a:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo\n';
    assert.notDeepEqual(validateWorkflow(bad).errors, []);
  });

  test('every Pulumi.<stack>.yaml is in the matrix of the offline plan and the preview', () => {
    assert.deepEqual(
      stackMatrix(ROOT).include.map((e) => e.stack),
      stackFiles(),
    );
    const pr = workflow('pull-request.yml');
    const stacksJob = pr.jobs.stacks!.steps.map((s) => s.run ?? '').join('\n');
    assert.match(stacksJob, /npx tsx scripts\/ci\/stacks\.ts/);
    for (const job of ['offline-plan', 'preview'])
      assert.equal(pr.jobs[job]!.strategy!.matrix, '${{ fromJSON(needs.stacks.outputs.matrix) }}', job);
    // A new stack file needs no workflow edit: the matrix reads the files (with each one's target).
    const dir = mkdtempSync(path.join(tmpdir(), 'stacks-'));
    writeFileSync(path.join(dir, 'Pulumi.k8s.yaml'), 'config:\n  clawstack:target: kubernetes\n');
    writeFileSync(path.join(dir, 'Pulumi.local.yaml'), 'config:\n  clawstack:target: docker\n');
    writeFileSync(
      path.join(dir, 'Pulumi.eks.yaml'),
      'config:\n  clawstack:target: kubernetes\n  clawstack:kubernetes:\n    cluster: eks\n',
    );
    writeFileSync(path.join(dir, 'Pulumi.dev.yaml'), 'config:\n  clawstack:tier: lightweight\n');
    assert.deepEqual(stackMatrix(dir).include, [
      { stack: 'dev', target: 'aws', credentials: 'aws' },
      { stack: 'eks', target: 'kubernetes', credentials: 'aws' },
      { stack: 'k8s', target: 'kubernetes', credentials: 'kubeconfig' },
      { stack: 'local', target: 'docker', credentials: 'none' },
    ]);
  });

  test('each stack preview signs in to what it deploys to: AWS by OIDC (aws, and kubernetes with cluster: eks), else the kubeconfig', () => {
    // The repository's own stack files: cluster: eks creates the cluster on AWS, so it needs AWS.
    const byStack = Object.fromEntries(stackMatrix(ROOT).include.map((e) => [e.stack, e.credentials]));
    assert.equal(byStack.eks, 'aws');
    assert.equal(byStack.k8s, 'kubeconfig');
    assert.equal(byStack.local, 'none');
    const steps = workflow('pull-request.yml').jobs.preview!.steps;
    const step = (uses: string) => steps.find((s) => s.uses?.startsWith(uses))!;
    assert.equal(step('aws-actions/configure-aws-credentials@').if, "matrix.credentials == 'aws'");
    assert.equal(
      steps.find((s) => s.run?.includes('~/.kube/config'))!.if,
      "matrix.credentials == 'kubeconfig'",
    );
    assert.equal(step('pulumi/actions@').if, "matrix.credentials != 'none'");
  });

  test('offline plan runs with --policy and no credentials; preview uses pulumi/actions, OIDC and the policy pack', () => {
    const pr = workflow('pull-request.yml');
    const plan = pr.jobs['offline-plan']!;
    assert.match(
      plan.steps.map((s) => s.run ?? '').join('\n'),
      /npm run --silent plan -- --stack "\$\{\{ matrix\.stack \}\}" --policy/,
    );
    assert.ok(!JSON.stringify(plan).includes('secrets.'), 'the offline plan must not need secrets');
    const preview = pr.jobs.preview!;
    assert.match(preview.if!, /head\.repo\.full_name == github\.repository/);
    assert.equal(preview.permissions!['id-token'], 'write');
    const action = preview.steps.find((s) => s.uses?.startsWith('pulumi/actions@'))!;
    assert.deepEqual(
      [action.with!.command, action.with!.diff, action.with!['comment-on-pr'], action.with!.policyPacks],
      ['preview', true, true, 'infra/policy'],
    );
    const oidc = preview.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'))!;
    assert.ok(oidc.with!['role-to-assume'] && !oidc.with!['aws-access-key-id'], 'role assumption, no keys');
    const comment = workflow('plan-comment.yml');
    assert.deepEqual((comment.on as { workflow_run: { workflows: string[] } }).workflow_run.workflows, [
      'pull request',
    ]);
  });

  test('main: dev, then staging, then prod through environments; one concurrency group per stack; nightly drift', () => {
    const main = workflow('main.yml');
    const deploys = ['dev', 'staging', 'prod'].map((s) => main.jobs[`deploy-${s}`]!);
    assert.deepEqual(
      deploys.map((j) => j.environment),
      ['dev', 'staging', 'prod'],
    );
    assert.deepEqual(
      deploys.map((j) => j.needs),
      ['checks', 'deploy-dev', 'deploy-staging'],
    );
    assert.deepEqual(
      deploys.map((j) => j.concurrency),
      ['dev', 'staging', 'prod'].map((s) => ({ group: `pulumi-stack-${s}`, 'cancel-in-progress': false })),
    );
    for (const j of deploys)
      assert.equal(j.steps.find((s) => s.uses?.startsWith('pulumi/actions@'))!.with!.command, 'up');
    const drift = main.jobs.drift!;
    assert.equal(drift.concurrency!.group, 'pulumi-stack-${{ matrix.stack }}');
    assert.match(drift.steps.map((s) => s.run ?? '').join('\n'), /pulumi refresh --preview-only/);
    assert.ok((main.on as { schedule: unknown[] }).schedule.length > 0);
    const deployed = stackFiles().filter(
      (s) => stackMatrix(ROOT).include.find((e) => e.stack === s)?.target === 'aws',
    );
    assert.deepEqual(
      deployed.filter((s) => !main.jobs[`deploy-${s}`]),
      [],
      'an AWS stack without a deploy job in main.yml',
    );
  });

  test('the image workflow publishes DEFAULT_IMAGE and its CUDA tag from package.json version', () => {
    const img = workflow('image.yml');
    const job = img.jobs.build!;
    const flavours = (job.strategy!.matrix as { include: { dockerfile: string; suffix: string }[] }).include;
    assert.deepEqual(
      flavours.map((f) => [f.dockerfile, f.suffix]),
      [
        ['app/Dockerfile', ''],
        ['app/Dockerfile.gpu', TIERS.gpu.imageTagSuffix],
      ],
    );
    const script = job.steps.find((s) => s.run?.includes('image='))!.run!;
    const version = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
    const m = /image=(ghcr\.io\/\$\{owner\}\/clawstack:\$\{version\})\$\{\{ matrix\.suffix \}\}/.exec(script);
    assert.ok(m, script);
    const produced = (suffix: string) =>
      m[1]!.replace('${owner}', 'clawstack').replace('${version}', version) + suffix;
    assert.equal(produced(''), DEFAULT_IMAGE);
    assert.equal(produced(flavours[1]!.suffix), `${DEFAULT_IMAGE}${TIERS.gpu.imageTagSuffix}`);
  });
});

describe('plan comment', () => {
  test('one marked comment with a section per stack; a failed stack is open and flagged', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'plans-'));
    writeFileSync(path.join(dir, 'dev.txt'), 'OFFLINE PLAN — stack dev');
    writeFileSync(path.join(dir, 'dev.rc'), '0\n');
    writeFileSync(path.join(dir, 'prod.txt'), 'POLICY: 1 violation(s)');
    writeFileSync(path.join(dir, 'prod.rc'), '1\n');
    const body = planComment(dir, 'abcdef1234');
    assert.ok(body.startsWith(MARKER));
    assert.match(body, /Offline plan for abcdef1 \(no cloud credentials/);
    assert.match(body, /<details><summary><b>dev<\/b> — plan and policy pass/);
    assert.match(body, /<details open><summary><b>prod<\/b> — ❌/);
  });
});
