/**
 * Open Inference Protocol v2 tensor data: reading request data (JSON arrays or the binary tensor data
 * extension's little-endian bytes), converting it to the model's tensor type when every value fits,
 * and writing outputs back as JSON (INT64 without precision loss) or bytes. Pure functions.
 */
import { randomUUID } from 'node:crypto';
import { getFloat16 } from '@petamoriken/float16';
import { BadRequestError } from '../errors.ts';
import { allocate } from '../inference/tensors.ts';
import type { TypedArray } from '../modalities/types.ts';
import type { TensorType } from '../models/manifest.ts';

/** Every datatype the protocol defines (KServe's list). */
export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

/** A value read from a request, before conversion: numbers, 64-bit integers, booleans or byte strings. */
export type Scalar = number | bigint | boolean;

const INTEGER_RANGE: Partial<Record<V2Datatype | TensorType, [bigint, bigint]>> = {
  UINT8: [0n, 255n],
  UINT16: [0n, 65535n],
  UINT32: [0n, 4294967295n],
  UINT64: [0n, 18446744073709551615n],
  INT8: [-128n, 127n],
  INT16: [-32768n, 32767n],
  INT32: [-2147483648n, 2147483647n],
  INT64: [-9223372036854775808n, 9223372036854775807n],
  uint8: [0n, 255n],
  int8: [-128n, 127n],
  int32: [-2147483648n, 2147483647n],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

const FLOAT_MAX: Record<string, number> = {
  FP16: 65504,
  FP32: 3.4028234663852886e38,
  FP64: Number.MAX_VALUE,
};

/** Bytes per element in the binary tensor data extension (BYTES is length-prefixed instead). */
export const ELEMENT_BYTES: Record<Exclude<V2Datatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

/**
 * Checks JSON `data` values (already flattened) against the datatype the client declared: BOOL takes
 * booleans, integer types take integers in their range, floating types take finite numbers. INT64 and
 * UINT64 values beyond ±2^53 cannot survive JSON parsing, so they must travel as binary data.
 */
export function readJsonValues(
  values: unknown[],
  datatype: Exclude<V2Datatype, 'BYTES'>,
  where: string,
): Scalar[] {
  return values.map((v, i) => {
    const at = `${where}.data[${i}]`;
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean')
        throw new BadRequestError(`${at}: expected true or false, got ${JSON.stringify(v)}`);
      return v;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new BadRequestError(`${at}: expected a finite number, got ${JSON.stringify(v)}`);
    }
    const range = INTEGER_RANGE[datatype];
    if (range) {
      if (!Number.isInteger(v) || BigInt(v) < range[0] || BigInt(v) > range[1])
        throw new BadRequestError(`${at}: ${v} is not a valid ${datatype}`);
      if (!Number.isSafeInteger(v)) {
        throw new BadRequestError(
          `${at}: ${v} is beyond ±2^53 and loses precision in JSON; send ${datatype} tensors with such values as binary data`,
        );
      }
    } else if (Math.abs(v) > FLOAT_MAX[datatype]!) {
      throw new BadRequestError(`${at}: ${v} is out of range for ${datatype}`);
    }
    return v;
  });
}

/** Reads `count` elements of `datatype` from little-endian `bytes` (the binary tensor data extension). */
export function readBinaryValues(
  bytes: Buffer,
  datatype: Exclude<V2Datatype, 'BYTES'>,
  count: number,
  where: string,
): Scalar[] {
  const size = ELEMENT_BYTES[datatype];
  if (bytes.length !== size * count) {
    throw new BadRequestError(
      `${where}: ${count} ${datatype} values need ${size * count} bytes of binary data, got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read: Record<Exclude<V2Datatype, 'BYTES'>, (o: number) => Scalar> = {
    BOOL: (o) => {
      const b = view.getUint8(o);
      if (b > 1) throw new BadRequestError(`${where}: BOOL byte at offset ${o} is ${b}, not 0 or 1`);
      return b === 1;
    },
    UINT8: (o) => view.getUint8(o),
    INT8: (o) => view.getInt8(o),
    UINT16: (o) => view.getUint16(o, true),
    INT16: (o) => view.getInt16(o, true),
    FP16: (o) => getFloat16(view, o, true),
    UINT32: (o) => view.getUint32(o, true),
    INT32: (o) => view.getInt32(o, true),
    FP32: (o) => view.getFloat32(o, true),
    UINT64: (o) => view.getBigUint64(o, true),
    INT64: (o) => view.getBigInt64(o, true),
    FP64: (o) => view.getFloat64(o, true),
  };
  const get = read[datatype];
  return Array.from({ length: count }, (_, i) => get(i * size));
}

/** BYTES elements in binary form: each a 4-byte little-endian length, then that many bytes. */
export function readBinaryStrings(bytes: Buffer, count: number, where: string): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.length)
      throw new BadRequestError(`${where}: binary BYTES data ends inside element ${i}'s length`);
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length)
      throw new BadRequestError(`${where}: binary BYTES element ${i} runs past the data`);
    out.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== bytes.length)
    throw new BadRequestError(`${where}: ${bytes.length - offset} bytes left after ${count} BYTES elements`);
  return out;
}

const FLOAT_TYPES: readonly V2Datatype[] = ['FP16', 'FP32', 'FP64'];

/** Converts one value to a different tensor type, or says why it does not fit. */
function convertValue(v: Scalar, fromFloat: boolean, type: TensorType, why: () => string): number | bigint {
  if (typeof v === 'boolean') {
    if (type === 'bool') return v ? 1 : 0;
    throw new BadRequestError(why());
  }
  if (type === 'float32') {
    const n = Number(v);
    // A float may round (FP64 → FP32) but must be in range; an integer must be exact (2^24 + 1 is no FP32).
    const fits = fromFloat ? Math.abs(n) <= FLOAT_MAX.FP32! : BigInt(Math.fround(n)) === BigInt(v);
    if (!fits) throw new BadRequestError(why());
    return n;
  }
  if (typeof v === 'number' && !Number.isInteger(v)) throw new BadRequestError(why());
  const big = BigInt(v);
  const range = type === 'bool' ? [0n, 1n] : INTEGER_RANGE[type]!;
  if (big < range[0]! || big > range[1]!) throw new BadRequestError(why());
  return type === 'int64' ? big : Number(big);
}

/**
 * Builds the model's typed array from request values declared as `datatype`. A different datatype is
 * converted when every value fits the model's type (FP64 → FP32 rounds; integers must be exact);
 * otherwise 400 naming the input, the element and both types.
 */
export function toTypedArray(
  values: Scalar[],
  datatype: V2Datatype,
  type: TensorType,
  where: string,
): TypedArray {
  const data = allocate(type, values.length) as unknown as (number | bigint)[];
  const modelType = V2_OF[type];
  const fromFloat = FLOAT_TYPES.includes(datatype);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (datatype === modelType) {
      data[i] = typeof v === 'boolean' ? Number(v) : type === 'int64' ? BigInt(v) : v;
      continue;
    }
    data[i] = convertValue(v, fromFloat, type, () => {
      const shown = typeof v === 'bigint' ? v.toString() : JSON.stringify(v);
      return `${where}.data[${i}]: ${datatype} value ${shown} does not fit the model's ${modelType}`;
    });
  }
  return data as unknown as TypedArray;
}

export const V2_OF: Record<TensorType, Exclude<V2Datatype, 'BYTES'>> = {
  float32: 'FP32',
  int64: 'INT64',
  int32: 'INT32',
  uint8: 'UINT8',
  int8: 'INT8',
  bool: 'BOOL',
};

/** An output's values for a JSON response: numbers, booleans for BOOL; INT64 stays bigint (see toJson). */
export function jsonData(type: TensorType, data: TypedArray): (number | boolean | bigint)[] {
  if (type === 'bool') return Array.from(data as Uint8Array, (b) => b !== 0);
  if (data instanceof BigInt64Array) return Array.from(data);
  return Array.from(data as Float32Array);
}

/**
 * JSON.stringify that writes bigints as exact JSON integers (`9007199254740993`, not a rounded double
 * and not a string): JSON numbers have no size limit, only JavaScript's Number does.
 */
export function toJson(value: unknown): string {
  const marks: string[] = [];
  // A per-call nonce: a client's string (the request id) can never pass for a placeholder.
  const nonce = randomUUID();
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    marks.push(v.toString());
    return `${nonce}:${marks.length - 1}`;
  });
  if (marks.length === 0) return text;
  return text.replace(new RegExp(`"${nonce}:(\\d+)"`, 'g'), (_m, i: string) => marks[Number(i)]!);
}

/** An output's bytes for the binary tensor data extension: little-endian, row major, BOOL one byte each. */
export function binaryData(data: TypedArray): Buffer {
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!le) throw new Error('binary tensor output assumes a little-endian host');
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
