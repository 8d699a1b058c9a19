/** Open Inference Protocol v2: exact paths and JSON shapes, against the real service. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { hashTextFeatures, parseHashedFeatureSpec } from '../../app/src/modalities/text/features.ts';
import { useTestApp } from '../harness/app.ts';

const app = useTestApp();

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
    // Only what is implemented: not Triton's `model_repository`, which also promises load/unload.
    assert.deepEqual(body.extensions, ['binary_tensor_data', 'model_repository_index']);
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
        { name: 'text', datatype: 'BYTES', shape: [-1] },
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
      'a datatype whose value does not fit the model (FP32 1.5 for INT64 ids)',
      {
        inputs: [
          { name: 'ids', datatype: 'FP32', shape: [1, 1], data: [1.5] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /inputs\[0\]\.data\[0\]: FP32 value 1\.5 does not fit the model's INT64/,
    ],
    [
      'FP64 beyond FP32',
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [1] },
          { name: 'weights', datatype: 'FP64', shape: [1, 1], data: [1e300] },
        ],
      },
      /inputs\[1\]\.data\[0\]: FP64 value 1e\+300 does not fit the model's FP32/,
    ],
    [
      'BYTES for a numeric input',
      {
        inputs: [
          { name: 'ids', datatype: 'BYTES', shape: [1, 1], data: ['x'] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /inputs\[0\]\.datatype: input "ids" takes INT64, not BYTES/,
    ],
    [
      'unknown datatype',
      { inputs: [{ name: 'text', datatype: 'STRING', shape: [1], data: ['x'] }] },
      /inputs\.0\.datatype/,
    ],
    [
      'text together with tensors',
      {
        inputs: [
          { name: 'text', datatype: 'BYTES', shape: [1], data: ['hi'] },
          { name: 'weights', datatype: 'FP32', shape: [1, 1], data: [1] },
        ],
      },
      /send "text" alone, or "ids" and "weights"/,
    ],
    [
      'text as numbers',
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [5] }] },
      /inputs\[0\]\.data\[0\]: expected a string/,
    ],
    [
      'text of rank 3',
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1, 1, 1], data: ['x'] }] },
      /expected \[N\] or \[N, 1\]/,
    ],
    ['no texts', { inputs: [{ name: 'text', datatype: 'BYTES', shape: [0], data: [] }] }, /batch size is 0/],
    [
      'an unknown request parameter',
      { parameters: { priority: 1 }, inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['x'] }] },
      /parameters: Unrecognized key: "priority"/,
    ],
    [
      'an unknown output parameter (classification is not implemented)',
      {
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['x'] }],
        outputs: [{ name: 'probabilities', parameters: { classification: 2 } }],
      },
      /outputs\.0\.parameters: Unrecognized key: "classification"/,
    ],
    [
      'an unknown input parameter',
      {
        inputs: [
          {
            name: 'text',
            datatype: 'BYTES',
            shape: [1],
            data: ['x'],
            parameters: { shared_memory_region: 'r' },
          },
        ],
      },
      /inputs\.0\.parameters: Unrecognized key: "shared_memory_region"/,
    ],
    [
      'binary_data_size without the binary framing',
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 5 } }] },
      /needs the Inference-Header-Content-Length header/,
    ],
    [
      'neither data nor binary',
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1] }] },
      /give either data or parameters\.binary_data_size/,
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

/** A binary-extension request body: JSON header, then the tensors' bytes (spec byte layout). */
function binaryRequest(header: unknown, ...tensors: Buffer[]) {
  const json = Buffer.from(JSON.stringify(header));
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.length),
    },
    body: Buffer.concat([json, ...tensors]),
  };
}

/** Splits a binary-extension response into its JSON header and binary part. */
async function readBinaryResponse(res: Response) {
  const body = Buffer.from(await res.arrayBuffer());
  const n = Number(res.headers.get('inference-header-content-length'));
  assert.ok(n > 0 && n <= body.length, `Inference-Header-Content-Length ${n}`);
  return { header: JSON.parse(body.subarray(0, n).toString()) as InferOut, binary: body.subarray(n) };
}

interface InferOut {
  outputs: {
    name: string;
    datatype: string;
    shape: number[];
    data?: number[];
    parameters?: Record<string, number>;
  }[];
}

function bytesElements(texts: string[]) {
  return Buffer.concat(
    texts.flatMap((t) => {
      const b = Buffer.from(t, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

describe('v2 text (BYTES), datatype conversion, binary tensor data, repository index', () => {
  const texts = ['Can you review my PR when you get a chance?', 'WIN a FREE cruise! Click now'];
  let taskScores: number[];
  before(async () => {
    taskScores = [];
    for (const text of texts) {
      const res = await app.call('/v1/text/classify', { method: 'POST', json: { text } });
      taskScores.push(((await res.json()) as { scores: { spam: number } }).scores.spam);
    }
  });

  test('BYTES text through v2 gives the task endpoint’s scores (same featurizer), shape [N] or [N, 1]', async () => {
    for (const shape of [[2], [2, 1]]) {
      const res = await app.call('/v2/models/text-spam/infer', {
        method: 'POST',
        json: {
          inputs: [
            {
              name: 'text',
              datatype: 'BYTES',
              shape,
              data: shape.length === 1 ? texts : texts.map((t) => [t]),
            },
          ],
        },
      });
      assert.equal(res.status, 200);
      const out = ((await res.json()) as InferOut).outputs[0]!;
      assert.deepEqual(out.shape, [2, 2]);
      texts.forEach((_, i) =>
        assert.ok(Math.abs(out.data![i * 2 + 1]! - taskScores[i]!) < 1e-6, `text ${i}`),
      );
    }
  });

  test('binary request (BYTES, length-prefixed) with binary_data_output: FP32 bytes after the header', async () => {
    const data = bytesElements(texts);
    const res = await app.call(
      '/v2/models/text-spam/infer',
      binaryRequest(
        {
          id: 'bin-1',
          parameters: { binary_data_output: true },
          inputs: [
            { name: 'text', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: data.length } },
          ],
        },
        data,
      ),
    );
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const { header, binary } = await readBinaryResponse(res);
    assert.deepEqual(header.outputs, [
      { name: 'probabilities', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
    ]);
    assert.equal(binary.length, 16);
    texts.forEach((_, i) => assert.ok(Math.abs(binary.readFloatLE((i * 2 + 1) * 4) - taskScores[i]!) < 1e-6));
  });

  test('binary tensors of other datatypes are converted: UINT16 ids, FP16 and FP64 weights', async () => {
    const f = featuresOf(texts[1]!);
    const n = f.ids.length;
    const ids = Buffer.alloc(n * 4);
    f.ids.forEach((v, i) => ids.writeUInt32LE(v, i * 4));
    const w64 = Buffer.alloc(n * 8);
    f.weights.forEach((v, i) => w64.writeDoubleLE(v, i * 8));
    const res = await app.call(
      '/v2/models/text-spam/infer',
      binaryRequest(
        {
          inputs: [
            { name: 'ids', datatype: 'UINT32', shape: [1, n], parameters: { binary_data_size: ids.length } },
            {
              name: 'weights',
              datatype: 'FP64',
              shape: [1, n],
              parameters: { binary_data_size: w64.length },
            },
          ],
          outputs: [{ name: 'probabilities', parameters: { binary_data: false } }],
        },
        ids,
        w64,
      ),
    );
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const out = ((await res.json()) as InferOut).outputs[0]!;
    assert.ok(Math.abs(out.data![1]! - taskScores[1]!) < 1e-6);

    const { setFloat16 } = await import('@petamoriken/float16');
    const w16 = new DataView(new ArrayBuffer(n * 2));
    f.weights.forEach((v, i) => setFloat16(w16, i * 2, v, true));
    const half = await app.call(
      '/v2/models/text-spam/infer',
      binaryRequest(
        {
          inputs: [
            { name: 'ids', datatype: 'INT64', shape: [1, n], data: f.ids },
            { name: 'weights', datatype: 'FP16', shape: [1, n], parameters: { binary_data_size: n * 2 } },
          ],
        },
        Buffer.from(w16.buffer),
      ),
    );
    assert.equal(half.status, 200, await half.clone().text());
    const p = ((await half.json()) as InferOut).outputs[0]!.data![1]!;
    assert.ok(Math.abs(p - taskScores[1]!) < 0.01, `FP16 weights round a little: ${p} vs ${taskScores[1]}`);
  });

  test('binary framing errors are 400s naming the problem', async () => {
    const cases: [RequestInit, RegExp][] = [
      [
        { ...binaryRequest({ inputs: [] }), headers: { 'inference-header-content-length': '999' } },
        /Inference-Header-Content-Length/,
      ],
      [
        binaryRequest(
          { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 9 } }] },
          bytesElements(['hi']),
        ),
        /run past/,
      ],
      [
        binaryRequest(
          { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['hi'] }] },
          Buffer.from([1]),
        ),
        /add up to 0/,
      ],
      [
        binaryRequest(
          { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 5 } }] },
          Buffer.from([1, 0, 0, 0, 0xff]),
        ),
        /not valid UTF-8/,
      ],
    ];
    for (const [init, message] of cases) {
      const res = await app.call('/v2/models/text-spam/infer', init);
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, message);
    }
  });

  test('POST /v2/repository/index lists served models READY and the manifest’s others UNAVAILABLE', async () => {
    for (const init of [{ method: 'POST' }, { method: 'POST', json: {} }]) {
      const res = await app.call('/v2/repository/index', init);
      assert.equal(res.status, 200);
      const index = (await res.json()) as { name: string; version: string; state: string; reason: string }[];
      assert.deepEqual(index[0], { name: 'text-spam', version: '1', state: 'READY', reason: '' });
      const vad = index.find((m) => m.name === 'silero-vad');
      assert.equal(vad?.state, 'UNAVAILABLE');
      assert.match(vad?.reason ?? '', /MODELS/);
    }
    const ready = await app.call('/v2/repository/index', { method: 'POST', json: { ready: true } });
    assert.deepEqual(
      ((await ready.json()) as { name: string }[]).map((m) => m.name),
      ['text-spam'],
    );
    const bad = await app.call('/v2/repository/index', { method: 'POST', json: { repository_name: 'x' } });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /repository_name/);
  });
});
