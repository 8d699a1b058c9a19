/**
 * The AWS target's Lambda handlers as code: the rotation protocol and the traffic comparison, each
 * against a fake SDK client (an object with `send` that records commands and answers them), and the
 * deploy-time bundle (esbuild) that Pulumi uploads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { ModifyReplicationGroupCommand } from '@aws-sdk/client-elasticache';
import { GetMetricDataCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { bundleHandler, LAMBDA_RUNTIME } from '../../infra/targets/aws/lambdas/bundle.ts';
import { rotate, rotationConfig } from '../../infra/targets/aws/lambdas/secret-rotation.ts';
import type { RotationEvent } from '../../infra/targets/aws/lambdas/secret-rotation.ts';
import {
  compareTraffic,
  hourStart,
  percentOfDayBefore,
  trafficConfig,
} from '../../infra/targets/aws/lambdas/traffic-compare.ts';

type Answer = (input: Record<string, unknown>) => unknown;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- SDK command constructors take typed inputs
type CommandClass = new (...args: any[]) => object;

/** A fake SDK client: answers by command class, records every command it was sent. */
function fakeClient(answers: Map<CommandClass, Answer> = new Map()) {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  return {
    sent,
    async send(command: object) {
      const input = (command as { input: Record<string, unknown> }).input;
      sent.push({ command: command.constructor.name, input });
      const answer = answers.get(command.constructor as CommandClass);
      if (!answer) return {};
      return answer(input);
    },
  };
}

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:clawstack-prod/db-password-Ab12';
const TOKEN = 'token-2';
const event = (Step: RotationEvent['Step']): RotationEvent => ({
  SecretId: SECRET,
  ClientRequestToken: TOKEN,
  Step,
});
const describeAnswer =
  (stages: Record<string, string[]>, enabled = true) =>
  () => ({
    Name: 'clawstack-prod/db-password',
    RotationEnabled: enabled,
    VersionIdsToStages: stages,
  });
const notFound = () => {
  throw Object.assign(new Error('no pending version'), { name: 'ResourceNotFoundException' });
};
const config = rotationConfig({
  SECRET_KINDS: JSON.stringify({
    'clawstack-prod/db-password': 'rds',
    'clawstack-prod/redis-auth-token': 'elasticache',
  }),
  DB_INSTANCE_ID: 'clawstack-prod-db',
  REPLICATION_GROUP_ID: 'clawstack-prod-redis',
});

describe('secret rotation handler', () => {
  const pendingStages = { 'token-1': ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] };

  test('createSecret stores a new random value as AWSPENDING under the request token', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([
        [DescribeSecretCommand, describeAnswer(pendingStages)],
        [GetSecretValueCommand, notFound],
        [GetRandomPasswordCommand, () => ({ RandomPassword: 'NewValue123' })],
      ]),
    );
    await rotate(event('createSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, config);
    const put = secrets.sent.find((s) => s.command === PutSecretValueCommand.name)!;
    assert.deepEqual(put.input, {
      SecretId: SECRET,
      ClientRequestToken: TOKEN,
      SecretString: 'NewValue123',
      VersionStages: ['AWSPENDING'],
    });
    const random = secrets.sent.find((s) => s.command === GetRandomPasswordCommand.name)!;
    assert.equal(random.input.ExcludePunctuation, true);
  });

  test('createSecret retried after the value exists puts nothing new', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([
        [DescribeSecretCommand, describeAnswer(pendingStages)],
        [GetSecretValueCommand, () => ({ SecretString: 'AlreadyThere1' })],
      ]),
    );
    await rotate(event('createSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, config);
    assert.deepEqual(
      secrets.sent.map((s) => s.command),
      [DescribeSecretCommand.name, GetSecretValueCommand.name],
    );
  });

  test('setSecret on an rds secret sets the master password of the configured instance', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([
        [DescribeSecretCommand, describeAnswer(pendingStages)],
        [GetSecretValueCommand, () => ({ SecretString: 'Pending9' })],
      ]),
    );
    const rds = fakeClient();
    const elasticache = fakeClient();
    await rotate(event('setSecret'), { secrets, rds, elasticache }, config);
    assert.deepEqual(rds.sent, [
      {
        command: ModifyDBInstanceCommand.name,
        input: {
          DBInstanceIdentifier: 'clawstack-prod-db',
          MasterUserPassword: 'Pending9',
          ApplyImmediately: true,
        },
      },
    ]);
    assert.equal(elasticache.sent.length, 0);
  });

  test('setSecret on an elasticache secret rotates the AUTH token keeping the old one valid', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([
        [
          DescribeSecretCommand,
          () => ({ ...describeAnswer(pendingStages)(), Name: 'clawstack-prod/redis-auth-token' }),
        ],
        [GetSecretValueCommand, () => ({ SecretString: 'Token7' })],
      ]),
    );
    const elasticache = fakeClient();
    await rotate(event('setSecret'), { secrets, rds: fakeClient(), elasticache }, config);
    assert.equal(elasticache.sent[0]?.command, ModifyReplicationGroupCommand.name);
    assert.equal(elasticache.sent[0]?.input.AuthTokenUpdateStrategy, 'ROTATE');
    assert.equal(elasticache.sent[0]?.input.ReplicationGroupId, 'clawstack-prod-redis');
  });

  test('setSecret on an instance secret touches no service', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([
        [
          DescribeSecretCommand,
          () => ({ ...describeAnswer(pendingStages)(), Name: 'clawstack-prod/bootstrap-api-key' }),
        ],
      ]),
    );
    const rds = fakeClient();
    await rotate(event('setSecret'), { secrets, rds, elasticache: fakeClient() }, config);
    assert.equal(rds.sent.length, 0);
  });

  test('finishSecret moves AWSCURRENT from the old version to the new one', async () => {
    const secrets = fakeClient(
      new Map<CommandClass, Answer>([[DescribeSecretCommand, describeAnswer(pendingStages)]]),
    );
    await rotate(event('finishSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, config);
    const update = secrets.sent.find((s) => s.command === UpdateSecretVersionStageCommand.name)!;
    assert.deepEqual(update.input, {
      SecretId: SECRET,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: TOKEN,
      RemoveFromVersionId: 'token-1',
    });
  });

  test('a version already AWSCURRENT is done; rotation off or an unknown version is an error', async () => {
    const done = fakeClient(
      new Map<CommandClass, Answer>([[DescribeSecretCommand, describeAnswer({ [TOKEN]: ['AWSCURRENT'] })]]),
    );
    await rotate(
      event('finishSecret'),
      { secrets: done, rds: fakeClient(), elasticache: fakeClient() },
      config,
    );
    assert.equal(done.sent.length, 1);
    const off = fakeClient(
      new Map<CommandClass, Answer>([[DescribeSecretCommand, describeAnswer(pendingStages, false)]]),
    );
    await assert.rejects(
      rotate(event('createSecret'), { secrets: off, rds: fakeClient(), elasticache: fakeClient() }, config),
      /rotation is not enabled/,
    );
    const unknown = fakeClient(
      new Map<CommandClass, Answer>([[DescribeSecretCommand, describeAnswer({ other: ['AWSPENDING'] })]]),
    );
    await assert.rejects(
      rotate(
        event('createSecret'),
        { secrets: unknown, rds: fakeClient(), elasticache: fakeClient() },
        config,
      ),
      /unknown/,
    );
  });
});

describe('secret rotation handler: the app database login (alternating users)', () => {
  const appSecret = {
    engine: 'postgres',
    host: 'db.example.internal',
    port: 5432,
    dbname: 'clawstack',
    username: 'clawstack_app_user',
    password: 'OldPassword1',
    masterarn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:clawstack-prod/db-password',
  };
  const appConfig = rotationConfig({
    SECRET_KINDS: JSON.stringify({ 'clawstack-prod/db-app': 'rds-app-user' }),
    DB_MASTER_USER: 'clawstack',
    DB_APP_GROUP: 'clawstack_app',
  });
  const stages = { 'token-1': ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] };
  const answers = (values: Record<string, string>) =>
    new Map<CommandClass, Answer>([
      [DescribeSecretCommand, () => ({ ...describeAnswer(stages)(), Name: 'clawstack-prod/db-app' })],
      [
        GetSecretValueCommand,
        (input) => {
          const v = values[`${String(input.SecretId)}:${String(input.VersionStage)}`];
          if (v === undefined) notFound();
          return { SecretString: v };
        },
      ],
      [GetRandomPasswordCommand, () => ({ RandomPassword: 'NewPassword2' })],
    ]);

  test('createSecret flips to the other login with a new password and keeps the rest', async () => {
    const secrets = fakeClient(answers({ [`${SECRET}:AWSCURRENT`]: JSON.stringify(appSecret) }));
    await rotate(event('createSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, appConfig);
    const put = secrets.sent.find((s) => s.command === PutSecretValueCommand.name)!;
    assert.deepEqual(JSON.parse(String(put.input.SecretString)), {
      ...appSecret,
      username: 'clawstack_app_user_clone',
      password: 'NewPassword2',
    });
  });

  test('setSecret logs in as the master from masterarn and never touches the RDS master password', async () => {
    const pending = { ...appSecret, username: 'clawstack_app_user_clone', password: 'NewPassword2' };
    const secrets = fakeClient(
      answers({
        [`${SECRET}:AWSCURRENT`]: JSON.stringify(appSecret),
        [`${SECRET}:AWSPENDING`]: JSON.stringify(pending),
        [`${appSecret.masterarn}:AWSCURRENT`]: 'MasterPassword9',
      }),
    );
    const logins: unknown[] = [];
    const rds = fakeClient();
    // The session refuses at once: what matters here is whom the function logs in as.
    const postgres = async (login: unknown) => {
      logins.push(login);
      throw Object.assign(new Error('refused'), { code: '28P01' });
    };
    await assert.rejects(
      rotate(event('setSecret'), { secrets, rds, elasticache: fakeClient(), postgres }, appConfig),
      /refused/,
    );
    assert.deepEqual(logins, [{ ...appSecret, username: 'clawstack', password: 'MasterPassword9' }]);
    assert.equal(rds.sent.length, 0);
  });

  test('a value that is not the documented JSON shape, or a missing DB_APP_GROUP, is a named error', async () => {
    const secrets = fakeClient(answers({ [`${SECRET}:AWSCURRENT`]: '{"username":"x"}' }));
    await assert.rejects(
      rotate(event('createSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, appConfig),
      /has no host/,
    );
    const unset = rotationConfig({
      SECRET_KINDS: JSON.stringify({ 'clawstack-prod/db-app': 'rds-app-user' }),
    });
    await assert.rejects(
      rotate(event('setSecret'), { secrets, rds: fakeClient(), elasticache: fakeClient() }, unset),
      /DB_MASTER_USER and DB_APP_GROUP/,
    );
  });
});

describe('traffic comparison handler', () => {
  const cfg = trafficConfig({
    SOURCE_METRIC: JSON.stringify({ Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount' }),
    TARGET_NAMESPACE: 'Clawstack/prod',
    STACK: 'prod',
    MIN_REQUESTS: '100',
  });
  const now = new Date('2026-11-30T14:05:00Z');
  /** Answers GetMetricData with `today` for the last hour and `yesterday` for a day earlier. */
  const metrics = (today: number[], yesterday: number[]) =>
    fakeClient(
      new Map<CommandClass, Answer>([
        [
          GetMetricDataCommand,
          (input) => ({
            MetricDataResults: [
              { Values: (input.EndTime as Date).getTime() === hourStart(now).getTime() ? today : yesterday },
            ],
          }),
        ],
      ]),
    );

  test('publishes this hour as a percentage of the same hour a day earlier', async () => {
    const cw = metrics([300, 300], [1000]);
    const result = await compareTraffic(cw, cfg, now);
    assert.deepEqual(result, { today: 600, yesterday: 1000, value: 60 });
    const put = cw.sent.find((s) => s.command === PutMetricDataCommand.name)!;
    assert.equal(put.input.Namespace, 'Clawstack/prod');
    const datum = (put.input.MetricData as Record<string, unknown>[])[0]!;
    assert.equal(datum.MetricName, 'RequestCountVsDayBefore');
    assert.equal(datum.Value, 60);
    assert.deepEqual(datum.Dimensions, [{ Name: 'Stack', Value: 'prod' }]);
    assert.equal((datum.Timestamp as Date).toISOString(), '2026-11-30T14:00:00.000Z');
    const windows = cw.sent
      .filter((s) => s.command === GetMetricDataCommand.name)
      .map((s) => [(s.input.StartTime as Date).toISOString(), (s.input.EndTime as Date).toISOString()]);
    assert.deepEqual(windows.sort(), [
      ['2026-11-29T13:00:00.000Z', '2026-11-29T14:00:00.000Z'],
      ['2026-11-30T13:00:00.000Z', '2026-11-30T14:00:00.000Z'],
    ]);
  });

  test('skips, publishing nothing, when a day earlier had fewer requests than the minimum', async () => {
    const cw = metrics([5], [99]);
    assert.deepEqual(await compareTraffic(cw, cfg, now), { skipped: true, today: 5, yesterday: 99 });
    assert.equal(cw.sent.filter((s) => s.command === PutMetricDataCommand.name).length, 0);
  });

  test('percentOfDayBefore and the config reader', () => {
    assert.equal(percentOfDayBefore(70, 100, 100), 70);
    assert.equal(percentOfDayBefore(70, 99, 100), undefined);
    assert.throws(() => trafficConfig({}), /SOURCE_METRIC/);
  });
});

describe('handler bundles', () => {
  for (const name of ['secret-rotation', 'traffic-compare'] as const) {
    test(`${name}: one ESM file exporting handler, the AWS SDK left to the runtime`, () => {
      const code = bundleHandler(name);
      assert.match(code, /export\s*\{[^}]*handler/);
      assert.match(code, /from "@aws-sdk\/client-/);
      assert.doesNotMatch(code, /node_modules\/@aws-sdk/);
    });
  }
  test('secret-rotation carries its Postgres client (pg is bundled, its native binding is not)', () => {
    const code = bundleHandler('secret-rotation');
    assert.doesNotMatch(code, /from "pg"/);
    assert.match(code, /ALTER ROLE/);
  });
  test('the runtime is a Node.js LTS Lambda still creates functions on (not nodejs20.x)', () => {
    assert.match(LAMBDA_RUNTIME, /^nodejs(2[2-9]|[3-9]\d)\.x$/);
  });
});
