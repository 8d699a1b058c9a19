/**
 * v2 tensor data without a server: the binary tensor data extension's byte layout (the spec's own
 * examples), datatype conversions that fit or are refused, and INT64 written to JSON exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFloat16 } from '@petamoriken/float16';
import { splitInferBody, sliceBinaryInputs } from '../../app/src/api/v2-binary.ts';
import {
  binaryData,
  readBinaryStrings,
  readBinaryValues,
  readJsonValues,
  toJson,
  toTypedArray,
} from '../../app/src/api/v2-tensors.ts';
import { inferRequestSchema, inferResponse } from '../../app/src/api/v2.ts';
import { modelEntrySchema } from '../../app/src/models/manifest.ts';

/** The spec's example request: input0 UINT32 [2, 2] (16 bytes) and input1 BOOL [3] (3 bytes). */
function specExampleRequest() {
  const header = JSON.stringify({
    model_name: 'mymodel',
    inputs: [
      { name: 'input0', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
      { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
    ],
    outputs: [{ name: 'output0', parameters: { binary_data: true } }],
  });
  const input0 = Buffer.alloc(16);
  [1, 2, 3, 0xffffffff].forEach((v, i) => input0.writeUInt32LE(v, i * 4));
  const input1 = Buffer.from([1, 0, 1]);
  return { header, body: Buffer.concat([Buffer.from(header), input0, input1]) };
}

describe('binary tensor data extension (spec examples)', () => {
  test('the example request splits into its JSON header and 16 + 3 bytes, read as UINT32 and BOOL', () => {
    const { header, body } = specExampleRequest();
    const { json, binary } = splitInferBody(body, String(Buffer.byteLength(header)));
    assert.equal(binary.length, 19);
    const request = (json as { model_name: string; inputs: unknown[] }).inputs;
    // The spec's header carries model_name, which the infer request schema allows through.
    const parsed = inferRequestSchema.parse({
      inputs: request,
      outputs: (json as { outputs: unknown }).outputs,
    });
    const [a, b] = sliceBinaryInputs(parsed.inputs, binary);
    assert.deepEqual(readBinaryValues(a!, 'UINT32', 4, 'inputs[0]'), [1, 2, 3, 0xffffffff]);
    assert.deepEqual(readBinaryValues(b!, 'BOOL', 3, 'inputs[1]'), [true, false, true]);
  });

  test('the example response: a [3, 2] FP32 output asked as binary is 24 bytes after the header', () => {
    const entry = modelEntrySchema.parse({
      name: 'mymodel',
      version: '1',
      modality: 'text',
      task: 'text.classify',
      file: 'm.onnx',
      sha256: '0'.repeat(64),
      bytes: 1,
      precision: 'fp32',
      inputs: [{ name: 'input0', type: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'output0', type: 'float32', shape: [-1, 2] }],
      source: 'test',
      license: 'test',
    });
    const rows = [0, 1, 2].map((i) => ({
      output0: { type: 'float32' as const, data: new Float32Array([i, i + 0.5]), dims: [1, 2] },
    }));
    const body = inferRequestSchema.parse({
      inputs: [{ name: 'input0', shape: [3, 2], datatype: 'FP32', data: [0, 0, 0, 0, 0, 0] }],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    });
    const { headerJson, binaryParts } = inferResponse(entry, body, rows);
    assert.deepEqual(JSON.parse(headerJson), {
      model_name: 'mymodel',
      model_version: '1',
      outputs: [{ name: 'output0', shape: [3, 2], datatype: 'FP32', parameters: { binary_data_size: 24 } }],
    });
    assert.equal(binaryParts.length, 1);
    const bytes = binaryParts[0]!;
    assert.deepEqual(
      Array.from({ length: 6 }, (_, i) => bytes.readFloatLE(i * 4)),
      [0, 0.5, 1, 1.5, 2, 2.5],
    );
    // binary_data_output on the request, overridden to JSON by the output's own binary_data: false
    const mixed = inferRequestSchema.parse({
      parameters: { binary_data_output: true },
      inputs: body.inputs,
      outputs: [{ name: 'output0', parameters: { binary_data: false } }],
    });
    const json = inferResponse(entry, mixed, rows);
    assert.equal(json.binaryParts.length, 0);
    assert.deepEqual(
      (JSON.parse(json.headerJson) as { outputs: { data: number[] }[] }).outputs[0]!.data,
      [0, 0.5, 1, 1.5, 2, 2.5],
    );
  });

  test('BYTES elements are a 4-byte little-endian length, then the bytes', () => {
    const bytes = Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
    assert.deepEqual(
      readBinaryStrings(bytes, 3, 'x').map((b) => b.toString('utf8')),
      ['abc', '', 'é'],
    );
    assert.throws(() => readBinaryStrings(bytes, 4, 'inputs[0]'), /inputs\[0\]: binary BYTES data ends/);
    assert.throws(() => readBinaryStrings(bytes, 2, 'inputs[0]'), /6 bytes left after 2 BYTES elements/);
  });

  test('every fixed-size datatype reads little-endian in its native size', () => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(-9223372036854775807n);
    assert.deepEqual(readBinaryValues(buf, 'INT64', 1, 'x'), [-9223372036854775807n]);
    buf.writeBigUInt64LE(18446744073709551615n);
    assert.deepEqual(readBinaryValues(buf, 'UINT64', 1, 'x'), [18446744073709551615n]);
    buf.writeDoubleLE(0.1);
    assert.deepEqual(readBinaryValues(buf, 'FP64', 1, 'x'), [0.1]);
    const half = new DataView(new ArrayBuffer(4));
    setFloat16(half, 0, 1.5, true);
    setFloat16(half, 2, -65504, true);
    assert.deepEqual(readBinaryValues(Buffer.from(half.buffer), 'FP16', 2, 'x'), [1.5, -65504]);
    assert.deepEqual(readBinaryValues(Buffer.from([0xff, 0xff, 0x01, 0x80]), 'INT16', 2, 'x'), [-1, -32767]);
    assert.deepEqual(readBinaryValues(Buffer.from([0xff, 0xff]), 'UINT16', 1, 'x'), [65535]);
    assert.deepEqual(readBinaryValues(Buffer.from([0xff]), 'INT8', 1, 'x'), [-1]);
    assert.throws(
      () => readBinaryValues(Buffer.alloc(7), 'FP32', 2, 'inputs[1]'),
      /inputs\[1\]: 2 FP32 values need 8 bytes/,
    );
    assert.throws(() => readBinaryValues(Buffer.from([2]), 'BOOL', 1, 'inputs[0]'), /not 0 or 1/);
  });

  test('framing errors are 400s that say what is wrong', () => {
    assert.throws(
      () => splitInferBody(Buffer.from('{}'), '3'),
      /Inference-Header-Content-Length.*up to the body's 2/,
    );
    assert.throws(() => splitInferBody(Buffer.from('{}'), 'two'), /got "two"/);
    assert.throws(() => splitInferBody(Buffer.from('{x'), '2'), /malformed JSON in the first 2 bytes/);
    const inputs = [{ parameters: { binary_data_size: 4 } }, {}];
    assert.throws(() => sliceBinaryInputs(inputs, Buffer.alloc(6)), /add up to 4/);
    assert.throws(() => sliceBinaryInputs(inputs, Buffer.alloc(2)), /inputs\[0\].*run past/);
    assert.throws(() => sliceBinaryInputs(inputs, undefined), /needs the Inference-Header-Content-Length/);
    assert.deepEqual(sliceBinaryInputs(inputs, Buffer.alloc(4)), [Buffer.alloc(4), undefined]);
  });
});

describe('datatype conversion', () => {
  const ok: [string, Parameters<typeof toTypedArray>, unknown[]][] = [
    ['FP64 → FP32 rounds', [[0.1, 1e30], 'FP64', 'float32', 'x'], [Math.fround(0.1), Math.fround(1e30)]],
    ['FP16 → FP32', [[1.5], 'FP16', 'float32', 'x'], [1.5]],
    ['INT32 → FP32 when exact', [[16777216], 'INT32', 'float32', 'x'], [16777216]],
    ['INT32 → INT64', [[-5, 7], 'INT32', 'int64', 'x'], [-5n, 7n]],
    ['UINT16 → INT64', [[65535], 'UINT16', 'int64', 'x'], [65535n]],
    ['UINT64 → INT64 in range', [[9223372036854775807n], 'UINT64', 'int64', 'x'], [9223372036854775807n]],
    ['INT64 → INT32 in range', [[-2147483648n], 'INT64', 'int32', 'x'], [-2147483648]],
    ['FP32 integral → INT64', [[42], 'FP32', 'int64', 'x'], [42n]],
    ['UINT8 → BOOL for 0 and 1', [[0, 1], 'UINT8', 'bool', 'x'], [0, 1]],
    ['BOOL → BOOL', [[true, false], 'BOOL', 'bool', 'x'], [1, 0]],
  ];
  for (const [what, args, expected] of ok) {
    test(`fits: ${what}`, () => {
      assert.deepEqual(Array.from(toTypedArray(...args) as ArrayLike<unknown>), expected);
    });
  }
  const refused: [string, Parameters<typeof toTypedArray>, RegExp][] = [
    [
      'FP64 beyond FP32',
      [[1, 1e300], 'FP64', 'float32', 'inputs[1]'],
      /inputs\[1\]\.data\[1\]: FP64 value 1e\+300 does not fit the model's FP32/,
    ],
    [
      'INT32 not exact in FP32',
      [[16777217], 'INT32', 'float32', 'x'],
      /16777217 does not fit the model's FP32/,
    ],
    [
      'fraction → INT64',
      [[1.5], 'FP64', 'int64', 'inputs[0]'],
      /inputs\[0\]\.data\[0\]: FP64 value 1\.5 does not fit the model's INT64/,
    ],
    [
      'UINT64 beyond INT64',
      [[9223372036854775808n], 'UINT64', 'int64', 'x'],
      /9223372036854775808 does not fit/,
    ],
    ['INT64 beyond INT32', [[2147483648n], 'INT64', 'int32', 'x'], /does not fit the model's INT32/],
    ['negative → UINT8', [[-1], 'INT8', 'uint8', 'x'], /does not fit the model's UINT8/],
    ['2 → BOOL', [[2], 'INT32', 'bool', 'x'], /does not fit the model's BOOL/],
    ['BOOL → FP32', [[true], 'BOOL', 'float32', 'x'], /BOOL value true does not fit/],
  ];
  for (const [what, args, message] of refused) {
    test(`refused: ${what}`, () => {
      assert.throws(() => toTypedArray(...args), message);
    });
  }

  test('JSON values are checked against the declared datatype first', () => {
    assert.deepEqual(readJsonValues([1, 2], 'UINT8', 'x'), [1, 2]);
    assert.throws(
      () => readJsonValues([256], 'UINT8', 'inputs[2]'),
      /inputs\[2\]\.data\[0\]: 256 is not a valid UINT8/,
    );
    assert.throws(() => readJsonValues([1], 'BOOL', 'x'), /expected true or false/);
    assert.throws(() => readJsonValues(['1'], 'FP32', 'x'), /expected a finite number/);
    assert.throws(() => readJsonValues([70000], 'FP16', 'x'), /out of range for FP16/);
    assert.throws(
      () => readJsonValues([2 ** 53 + 2], 'INT64', 'x'),
      /loses precision in JSON; send INT64 .* as binary data/,
    );
  });
});

describe('INT64 outputs', () => {
  test('are written as exact JSON integers, never through a double', () => {
    const data = new BigInt64Array([9007199254740993n, -9223372036854775808n, 1n]);
    const text = toJson({ outputs: [{ name: 'o', datatype: 'INT64', data: Array.from(data) }] });
    assert.equal(
      text,
      '{"outputs":[{"name":"o","datatype":"INT64","data":[9007199254740993,-9223372036854775808,1]}]}',
    );
    assert.notEqual(String(Number(9007199254740993n)), '9007199254740993', 'Number() would have rounded it');
    const plain = { id: '\u00000\u0000', n: [1.5], big: [] };
    assert.equal(toJson(plain), JSON.stringify(plain));
  });

  test('and as 8 little-endian bytes each in binary', () => {
    const bytes = binaryData(new BigInt64Array([9007199254740993n]));
    assert.equal(bytes.readBigInt64LE(0), 9007199254740993n);
  });
});
