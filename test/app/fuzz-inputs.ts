/**
 * fast-check generators of bad requests for the fuzz test: random and mutated JSON, wrong types, deep
 * nesting, unicode edge cases, truncated and lying WAV/PNG/JPEG, decompression bombs, wrong media
 * types, bad v2 tensors, odd paths and queries.
 */
import { crc32, deflateSync } from 'node:zlib';
import fc from 'fast-check';

export interface FuzzRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  contentType?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/vnd.custom+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'audio/wav',
  'image/png',
  '',
  ';;;',
  'application/json; charset=klingon',
];

/** Strings that break naive code: lone surrogates, NUL, BOM, RTL overrides, combining marks, emoji. */
const NASTY = [
  '\ud800',
  '\udfff',
  '\u0000',
  '\ufeff',
  '\u202e',
  'e\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦',
  '\u{10ffff}',
  '%00',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  '𝓽𝓮𝔁𝓽',
  ' '.repeat(1000),
];

export const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.constantFrom(...NASTY),
  fc.array(fc.constantFrom(...NASTY), { maxLength: 8 }).map((a) => a.join('')),
);

/** Nesting `depth` arrays or objects deep (a stack-depth attack on anything recursive). */
export const deepJson = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
  );

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  nastyString,
  fc.constant(null),
  fc.double(),
  fc.integer(),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 5 }),
);

/** A JSON body text: valid or not, deep, huge, truncated, with a value of the wrong type. */
export function jsonBodies(valid: unknown[]) {
  const validText = fc.constantFrom(...valid).map((v) => JSON.stringify(v));
  return fc.oneof(
    fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
    validText,
    // a field with a value of another type, or an extra field
    fc
      .tuple(
        fc.constantFrom(...valid),
        fc.oneof(nastyString, fc.constantFrom('text', 'task', 'input', 'priority', 'inputs')),
        anyValue,
      )
      .map(([v, k, x]) => JSON.stringify({ ...(v as object), [k]: x })),
    // truncated valid JSON
    fc.tuple(validText, fc.nat()).map(([t, n]) => t.slice(0, n % Math.max(1, t.length))),
    // bytes flipped in valid JSON
    fc
      .tuple(validText, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
      .map(([t, flips]) => {
        const b = Buffer.from(t);
        for (const [i, v] of flips) b[i % b.length] = v;
        return b.toString('latin1');
      }),
    deepJson,
    fc.integer({ min: 10_000, max: 200_000 }).map((n) => JSON.stringify({ text: 'x'.repeat(n) })),
    nastyString.map((s) => JSON.stringify({ text: s })),
    nastyString,
  );
}

export function jsonRequests(paths: string[], valid: unknown[]): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: fc.constant('POST' as const),
    path: fc.constantFrom(...paths),
    contentType: fc.oneof(
      { weight: 4, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constantFrom(...JSON_TYPES) },
    ),
    body: jsonBodies(valid),
  });
}

/** Bad v2 infer requests: wrong names, datatypes, shapes (negative, huge, fractional), data, nesting. */
export function v2Requests(models: { name: string; inputs: { name: string; datatype: string }[] }[]) {
  const datatypes = ['FP32', 'INT64', 'INT32', 'BOOL', 'BYTES', 'FP16', 'UINT8', 'fp32', ''];
  const dim = fc.oneof(
    fc.integer({ min: 0, max: 4 }),
    fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1e12, 0.5, Number.MAX_SAFE_INTEGER),
  );
  const data = fc.oneof(
    fc.array(fc.oneof(fc.double(), fc.integer(), fc.boolean(), nastyString, fc.constant(null)), {
      maxLength: 16,
    }),
    fc.array(fc.array(fc.double({ noNaN: true }), { maxLength: 4 }), { maxLength: 4 }),
    fc.integer({ min: 100, max: 20_000 }).map((d) => {
      let v: unknown = [1];
      for (let i = 0; i < d; i++) v = [v];
      return v as unknown[];
    }),
    fc.integer({ min: 1, max: 5000 }).map((n) => Array.from({ length: n }, (_, i) => i % 7)),
  );
  return fc
    .tuple(
      fc.constantFrom(...models),
      fc.array(
        fc.record({
          name: fc.oneof(fc.constantFrom(...models.flatMap((m) => m.inputs.map((i) => i.name))), nastyString),
          datatype: fc.oneof(
            fc.constantFrom(...models.flatMap((m) => m.inputs.map((i) => i.datatype))),
            fc.constantFrom(...datatypes),
          ),
          shape: fc.array(dim, { maxLength: 5 }),
          data,
        }),
        { maxLength: 4 },
      ),
      fc.option(fc.array(fc.record({ name: nastyString }), { maxLength: 3 })),
    )
    .map(([model, inputs, outputs]): FuzzRequest => {
      let body: string;
      try {
        body = JSON.stringify({ inputs, ...(outputs ? { outputs } : {}) });
      } catch {
        body = '{"inputs": []}'; // a nesting too deep for JSON.stringify itself
      }
      return {
        method: 'POST',
        path: `/v2/models/${model.name}/infer`,
        contentType: 'application/json',
        body,
      };
    });
}

/** A PNG chunk (length, type, data, CRC). */
export function pngChunk(type: string, data: Buffer, crc?: number): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc ?? crc32(td));
  return Buffer.concat([len, td, c]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A decompression bomb: a valid PNG header claiming `side`×`side` pixels and an IDAT of a few KB that
 * inflates to rows of zeros. Anything that decodes before checking the size runs out of memory.
 */
export function pngBomb(side: number, rows = 64): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc(Math.min(rows, side) * (side + 1)); // filter byte + zeros per row
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A 16-bit mono WAV of `samples` samples; header fields may be overridden to lie. */
export function wav(
  samples: Int16Array,
  lie: {
    riffSize?: number;
    fmtSize?: number;
    dataSize?: number;
    rate?: number;
    channels?: number;
    bits?: number;
  } = {},
): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const h = Buffer.alloc(44);
  const rate = lie.rate ?? 16_000;
  const channels = lie.channels ?? 1;
  const bits = lie.bits ?? 16;
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(lie.riffSize ?? 36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(lie.fmtSize ?? 16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate >>> 0, 24);
  h.writeUInt32LE(Math.floor(rate * channels * (bits / 8)) >>> 0, 28);
  h.writeUInt16LE(Math.floor((channels * bits) / 8) & 0xffff, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(lie.dataSize ?? data.length, 40);
  return Buffer.concat([h, data]);
}

const u32 = fc.oneof(fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 44), fc.nat({ max: 0xffffffff }));

/** Byte-level damage to a valid file: truncation, overwritten bytes, a length field that lies, junk. */
export function mutated(base: Buffer[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.tuple(fc.constantFrom(...base), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
    fc
      .tuple(
        fc.constantFrom(...base),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }),
      )
      .map(([b, flips]) => {
        const c = Buffer.from(b);
        for (const [i, v] of flips) c[i % c.length] = v;
        return c;
      }),
    fc.tuple(fc.constantFrom(...base), fc.nat({ max: 64 }), u32).map(([b, at, v]) => {
      const c = Buffer.from(b);
      c.writeUInt32LE(v, Math.min(at, c.length - 4));
      return c;
    }),
    fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
    fc.constant(Buffer.alloc(0)),
  );
}

/** WAVs that lie in their headers, have zero-length chunks or are cut off. */
export function wavBodies(valid: Buffer): fc.Arbitrary<Buffer> {
  const samples = new Int16Array(1600).map((_, i) => Math.round(3000 * Math.sin(i / 5)));
  return fc.oneof(
    mutated([valid, wav(samples)]),
    fc
      .record({
        riffSize: fc.option(u32, { nil: undefined }),
        fmtSize: fc.option(fc.oneof(fc.constantFrom(0, 14, 18, 40), u32), { nil: undefined }),
        dataSize: fc.option(u32, { nil: undefined }),
        rate: fc.option(fc.oneof(fc.constantFrom(0, 1, 7999, 8000, 384_001), u32), { nil: undefined }),
        channels: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
        bits: fc.option(fc.constantFrom(0, 1, 7, 8, 12, 24, 32, 64), { nil: undefined }),
      })
      .map((lie) => wav(samples, lie)),
    fc.constant(wav(new Int16Array(0))), // zero-length data chunk
  );
}

/** PNGs and JPEGs: damaged, cut off, zero-length chunks, CRCs that lie, and decompression bombs. */
export function imageBodies(validPng: Buffer, validJpeg: Buffer): fc.Arbitrary<Buffer> {
  const ihdr = validPng.subarray(8, 33);
  const rest = validPng.subarray(33);
  return fc.oneof(
    mutated([validPng, validJpeg]),
    fc.integer({ min: 5000, max: 60_000 }).map((side) => pngBomb(side)),
    // zero-length IDAT/unknown chunks inserted after IHDR, sometimes with a wrong CRC
    fc
      .tuple(fc.constantFrom('IDAT', 'tEXt', 'zzZz', 'IEND', 'PLTE'), fc.option(fc.nat({ max: 0xffffffff })))
      .map(([type, crc]) =>
        Buffer.concat([PNG_SIGNATURE, ihdr, pngChunk(type, Buffer.alloc(0), crc ?? undefined), rest]),
      ),
    // a JPEG whose segment lengths lie
    fc.tuple(fc.nat({ max: 200 }), fc.integer({ min: 0, max: 65535 })).map(([at, len]) => {
      const c = Buffer.from(validJpeg);
      const i = 2 + (at % 200);
      c.writeUInt16BE(len, Math.min(i, c.length - 2));
      return c;
    }),
  );
}
