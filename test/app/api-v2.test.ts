/** Open Inference Protocol v2: exact paths and JSON shapes, against the real service. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashTextFeatures, parseHashedFeatureSpec } from '../../app/src/modalities/text/features.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
let app: TestApp;

before(async () => {
  services = await startTestServices();
  app = await startTestApp(services);
});
after(async () => {
  await app?.close();
  await services?.stop();
});

function featuresOf(text: string) {
  const entry = app.service.registry.get('text-spam')!.entry;
  const f = hashTextFeatures(text, parseHashedFeatureSpec(entry.preprocess));
  return { ids: [...f.ids].map(Number), weights: [...f.weights] };
}

describe('v2 health and metadata', () => {
  test('GET /v2/health/live and /ready answer 200 without a key', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready']) {
      const res = await app.call(path, { key: null });
      assert.equal(res.status, 200, path);
    }
    assert.deepEqual(await (await app.call('/v2/health/ready', { key: null })).json(), { ready: true });
    assert.deepEqual(await (await app.call('/v2/health/live', { key: null })).json(), { live: true });
  });

  test('GET /v2 returns server metadata: name, version, extensions', async () => {
    const body = (await (await app.call('/v2')).json()) as Record<string, unknown>;
    assert.equal(body.name, 'clawstack');
    assert.match(String(body.version), /^\d+\.\d+\.\d+$/);
    assert.ok(Array.isArray(body.extensions));
  });

  test('GET /v2/models/{m} and /versions/{v} return name, versions, platform, inputs, outputs', async () => {
    for (const path of ['/v2/models/text-spam', '/v2/models/text-spam/versions/1']) {
      const res = await app.call(path);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.name, 'text-spam');
      assert.deepEqual(body.versions, ['1']);
      assert.equal(body.platform, 'onnxruntime_onnx');
      assert.deepEqual(body.inputs, [
        { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'weights', datatype: 'FP32', shape: [-1, -1] },
      ]);
      assert.deepEqual(body.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }]);
    }
  });

  test('GET /v2/models/{m}[/versions/{v}]/ready → {name, ready: true}', async () => {
    for (const path of ['/v2/models/text-spam/ready', '/v2/models/text-spam/versions/1/ready']) {
      const res = await app.call(path);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { name: 'text-spam', ready: true });
    }
  });

  test('unknown model or version → 404 with a JSON error', async () => {
    for (const path of [
      '/v2/models/nope',
      '/v2/models/nope/ready',
      '/v2/models/text-spam/versions/9',
      '/v2/models/text-spam/versions/9/ready',
    ]) {
      const res = await app.call(path);
      assert.equal(res.status, 404, path);
      const body = (await res.json()) as { error: string };
      assert.match(body.error, /nope|version "9"/);
    }
    const res = await app.call('/v2/models/nope/infer', { method: 'POST', json: { inputs: [] } });
    assert.equal(res.status, 404);
  });
});

describe('v2 infer', () => {
  test('POST /v2/models/{m}/infer returns model_name, model_version, id and typed outputs', async () => {
    const spam = featuresOf(
      'Congratulations! You have WON a FREE prize. Click here to claim your cash now!!!',
    );
    const res = await app.call('/v2/models/text-spam/infer', {
      method: 'POST',
      json: {
        id: 'req-1',
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, spam.ids.length], data: spam.ids },
          { name: 'weights', datatype: 'FP32', shape: [1, spam.weights.length], data: spam.weights },
        ],
      },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      model_name: string;
      model_version: string;
      id: string;
      outputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
    };
    assert.equal(body.model_name, 'text-spam');
    assert.equal(body.model_version, '1');
    assert.equal(body.id, 'req-1');
    assert.equal(body.outputs.length, 1);
    const out = body.outputs[0]!;
    assert.equal(out.name, 'probabilities');
    assert.equal(out.datatype, 'FP32');
    assert.deepEqual(out.shape, [1, 2]);
    assert.ok(Math.abs(out.data[0]! + out.data[1]! - 1) < 1e-5, 'softmax sums to 1');
    assert.ok(out.data[1]! > 0.5, `spam probability ${out.data[1]}`);
  });

  test('a batch of 2 in one request (nested data, zero-padded) matches two single requests', async () => {
    const a = featuresOf('meeting moved to 3pm, see agenda attached');
    const b = featuresOf('cheap viagra online pharmacy no prescription buy now');
    const L = Math.max(a.ids.length, b.ids.length);
    const pad = (xs: number[]) => [...xs, ...new Array(L - xs.length).fill(0)];
    const batched = await app.call('/v2/models/text-spam/versions/1/infer', {
      method: 'POST',
      json: {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [2, L], data: [pad(a.ids), pad(b.ids)] },
          { name: 'weights', datatype: 'FP32', shape: [2, L], data: [pad(a.weights), pad(b.weights)] },
        ],
        outputs: [{ name: 'probabilities' }],
      },
    });
    assert.equal(batched.status, 200);
    const out = ((await batched.json()) as { outputs: { shape: number[]; data: number[] }[] }).outputs[0]!;
    assert.deepEqual(out.shape, [2, 2]);
    for (const [i, f] of [a, b].entries()) {
      const single = await app.call('/v2/models/text-spam/infer', {
        method: 'POST',
        json: {
          inputs: [
            { name: 'ids', datatype: 'INT64', shape: [1, f.ids.length], data: f.ids },
            { name: 'weights', datatype: 'FP32', shape: [1, f.weights.length], data: f.weights },
          ],
        },
      });
      const data = ((await single.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data;
      assert.ok(Math.abs(data[1]! - out.data[i * 2 + 1]!) < 1e-5);
    }
  });

  const bad: [string, unknown, RegExp][] = [
    ['missing inputs', {}, /inputs/],
    ['inputs not an array', { inputs: 'x' }, /inputs/],
    [
      'missing input',
      { inputs: [{ name: 'ids', datatype: 'INT64', shape: [1, 1], data: [1] }] },
      /missing input "weights"/,
    ],
    [
      'unknown input',
      { inputs: [{ name: 'nope', datatype: 'FP32', shape: [1], data: [1] }] },
      /no input "nope"/,
    ],
    [
      'wrong datatype',
      {
        inputs: [
          { name: 'ids', datatype: 'FP32', shape: [1, 1], data: [1] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /inputs\[0\]\.datatype: expected INT64/,
    ],
    [
      'wrong rank',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [3], data: [1, 2, 3] },
          { name: 'weights', datatype: 'FP32', shape: [1, 3], data: [1, 1, 1] },
        ],
      },
      /expected rank 2/,
    ],
    [
      'data length does not match the shape',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 4], data: [1, 2] },
          { name: 'weights', datatype: 'FP32', shape: [1, 4], data: [1, 1, 1, 1] },
        ],
      },
      /needs 4 values, got 2/,
    ],
    [
      'non-numeric data',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 1], data: ['x'] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /data\[0\]: expected a finite number/,
    ],
    [
      'fractional INT64',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [1.5] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /not a valid INT64/,
    ],
    [
      'batch sizes differ',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [2, 1], data: [1, 2] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /batch size/,
    ],
    [
      'unknown requested output',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [1] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
        outputs: [{ name: 'logits' }],
      },
      /no output "logits"/,
    ],
    [
      'index outside the embedding table (rejected by ONNX Runtime)',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [99_999_999] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /inference failed for this input/,
    ],
  ];
  for (const [what, body, message] of bad) {
    test(`400 with a JSON error naming the problem: ${what}`, async () => {
      const res = await app.call('/v2/models/text-spam/infer', { method: 'POST', json: body });
      assert.equal(res.status, 400);
      const json = (await res.json()) as { error: string };
      assert.match(json.error, message);
    });
  }

  test('a bad input batched together with good ones fails alone', async () => {
    const good = featuresOf('see you at the standup tomorrow');
    const goodBody = {
      inputs: [
        { name: 'ids', datatype: 'INT64', shape: [1, good.ids.length], data: good.ids },
        { name: 'weights', datatype: 'FP32', shape: [1, good.weights.length], data: good.weights },
      ],
    };
    const badBody = {
      inputs: [
        { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [10_000_000] },
        { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
      ],
    };
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        app.call('/v2/models/text-spam/infer', { method: 'POST', json: i % 10 === 3 ? badBody : goodBody }),
      ),
    );
    results.forEach((r, i) => assert.equal(r.status, i % 10 === 3 ? 400 : 200, `request ${i}`));
  });
});
