/**
 * image.ocr end to end on real models (PP-OCRv4 det + rec through onnxruntime-node), plus unit tests of
 * DB post-processing and CTC decoding on small hand-built inputs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { BadRequestError } from '../../app/src/errors.ts';
import { ctcGreedyDecode } from '../../app/src/modalities/image/ctc.ts';
import {
  convexHull,
  dbPostprocess,
  minAreaRect,
  orderQuad,
  type DbOptions,
  type Point,
} from '../../app/src/modalities/image/db-postprocess.ts';
import {
  ctcLabels,
  detSize,
  imageOcr,
  recParams,
  sortReadingOrder,
  type OcrResult,
} from '../../app/src/modalities/image/ocr.ts';
import { directContext, MODELS_DIR, type DirectContext } from './helpers/direct-context.ts';
import { editDistance } from '../../scripts/lib/model-eval.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  ocr: Record<string, string[]>;
};
const image = (name: string) => readFileSync(join(FIXTURES, 'image', name));

describe('image.ocr with PP-OCRv4', () => {
  let ctx: DirectContext;
  const results = new Map<string, OcrResult>();

  before(async () => {
    ctx = await directContext('image.ocr');
    for (const name of Object.keys(expected.ocr)) {
      results.set(
        name,
        await imageOcr.run(
          await imageOcr.decodeRequest({ contentType: 'image/png', body: image(name) }),
          ctx,
        ),
      );
    }
  });
  after(async () => {
    await ctx.release();
  });

  test('character accuracy on the fixture set is at least 0.9 (1 - normalised edit distance)', () => {
    let errors = 0;
    let chars = 0;
    for (const [name, truth] of Object.entries(expected.ocr)) {
      const got = results
        .get(name)!
        .lines.map((l) => l.text)
        .join('\n');
      const want = truth.join('\n');
      errors += editDistance(got, want);
      chars += want.length;
    }
    const accuracy = 1 - errors / chars;
    assert.ok(accuracy >= 0.9, `character accuracy ${accuracy.toFixed(3)}`);
  });

  for (const [name, truth] of Object.entries(expected.ocr)) {
    test(`${name}: one line per text line, in reading order, boxes inside the image`, async () => {
      const { lines } = results.get(name)!;
      const meta = await sharp(image(name)).metadata();
      assert.equal(lines.length, truth.length, JSON.stringify(lines.map((l) => l.text)));
      lines.forEach((line, i) => {
        // Each line is recognised well on its own (ignoring spaces, which this Chinese+English model drops
        // most often), and is confident.
        const want = truth[i]!.replace(/ /g, '');
        const got = line.text.replace(/ /g, '');
        assert.ok(editDistance(got, want) / want.length <= 0.1, `"${line.text}" vs "${truth[i]}"`);
        assert.ok(line.confidence >= 0.5 && line.confidence <= 1);
        for (const [x, y] of line.box) {
          assert.ok(x >= 0 && x <= meta.width! && y >= 0 && y <= meta.height!, JSON.stringify(line.box));
        }
        if (i > 0) assert.ok(line.box[0][1] > lines[i - 1]!.box[0][1]);
      });
    });
  }

  test('boxes sit on the text that was drawn (ocr-sans.png: baselines at y = 55, 115, 175, x from 24)', () => {
    const baselines = [55, 115, 175];
    results.get('ocr-sans.png')!.lines.forEach((line, i) => {
      const ys = line.box.map((p) => p[1]);
      const xs = line.box.map((p) => p[0]);
      // 30 pt DejaVu Sans: caps are ~22 px above the baseline, descenders ~7 px below.
      assert.ok(
        Math.min(...ys) >= baselines[i]! - 30 && Math.min(...ys) <= baselines[i]! - 15,
        JSON.stringify(line.box),
      );
      assert.ok(
        Math.max(...ys) >= baselines[i]! && Math.max(...ys) <= baselines[i]! + 15,
        JSON.stringify(line.box),
      );
      assert.ok(Math.min(...xs) >= 15 && Math.min(...xs) <= 35, JSON.stringify(line.box));
    });
  });

  test('a large image is detected on a downscaled copy and its boxes mapped back to full size', () => {
    assert.deepEqual(detSize(1500, 380, { limitSideLen: 960, multipleOf: 32 }), { width: 960, height: 256 });
    const [headline] = results.get('ocr-large.png')!.lines;
    const xs = headline!.box.map((p) => p[0]);
    // "Large print headline" at 96 pt spans ~950 px from x = 40 in the 1500 px wide original.
    assert.ok(Math.min(...xs) < 80 && Math.max(...xs) > 900, JSON.stringify(headline!.box));
  });

  test('rotated text gets rotated boxes', () => {
    for (const line of results.get('ocr-rotated.png')!.lines) {
      const [p0, p1] = line.box;
      const angle = (Math.atan2(p1[1] - p0[1], p1[0] - p0[0]) * 180) / Math.PI;
      assert.ok(angle > 2 && angle < 6, `angle ${angle}`);
    }
  });

  test('the rec labels are blank + the dictionary asset + space, one per output class', () => {
    const rec = ctx.model('rec');
    const p = recParams(rec);
    assert.ok(
      rec.assets.some((a) => a.file === p.dictionary),
      'the dictionary is a checksummed asset',
    );
    const labels = ctcLabels(ctx.asset(p.dictionary), p.spaceChar);
    assert.equal(labels.length, 1 + 6623 + 1);
    assert.equal(labels[0], '<blank>');
    assert.equal(labels.at(-1), ' ');
    assert.equal(labels[1], readFileSync(join(MODELS_DIR, p.dictionary), 'utf8').split('\n')[0]);
    assert.equal(rec.outputs[0]!.shape[2], labels.length);
    assert.equal(ctx.model('det').batching, 'none');
  });

  test('job input: base64 JPEG gives the same input and result as the request body', async () => {
    const body = image('ocr-serif.jpg');
    const fromJob = await imageOcr.decodeJobInput({ image: body.toString('base64') });
    const fromRequest = await imageOcr.decodeRequest({ contentType: 'image/jpeg', body });
    assert.deepEqual(imageOcr.fingerprint(fromJob), imageOcr.fingerprint(fromRequest));
    assert.deepEqual(await imageOcr.run(fromJob, ctx), results.get('ocr-serif.jpg'));
  });

  test('a blank image has no lines', async () => {
    const blank = await sharp({ create: { width: 200, height: 80, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const r = await imageOcr.run(
      await imageOcr.decodeRequest({ contentType: 'image/png', body: blank }),
      ctx,
    );
    assert.deepEqual(r.lines, []);
  });

  test('non-images, other formats, oversized images and bad job inputs are BadRequestErrors', async () => {
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .webp()
      .toBuffer();
    const huge = await sharp({ create: { width: 20000, height: 4, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const bodies: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /empty/],
      [Buffer.from('definitely not an image'), /not a decodable image/],
      [webp, /webp is not supported/],
      [huge, /20000x4/],
      [image('ocr-sans.png').subarray(0, 200), /decod/],
    ];
    for (const [body, message] of bodies) {
      await assert.rejects(
        async () => imageOcr.decodeRequest({ contentType: 'image/png', body }),
        (err: unknown) => err instanceof BadRequestError && message.test(err.message),
        message.source,
      );
    }
    const inputs: [unknown, RegExp][] = [
      [undefined, /object/],
      [[1, 2], /object/],
      [{ img: 'x' }, /"image"/],
      [{ image: '%%%%' }, /base64/],
      [{ image: Buffer.from('GIF89a').toString('base64') }, /not a decodable image/],
    ];
    for (const [input, message] of inputs) {
      await assert.rejects(
        async () => imageOcr.decodeJobInput(input),
        (err: unknown) => err instanceof BadRequestError && message.test(err.message),
        JSON.stringify(input),
      );
    }
  });
});

describe('CTC greedy decoding', () => {
  const labels = ['<blank>', 'a', 'b', ' '];
  const matrix = (rows: number[][]) => Float32Array.from(rows.flat());

  test('merges repeats, drops blanks, and a blank separates a doubled letter', () => {
    const probs = matrix([
      [0.1, 0.8, 0.05, 0.05], // a
      [0.1, 0.7, 0.1, 0.1], // a (repeat, merged)
      [0.9, 0.05, 0.05, 0], // blank
      [0.2, 0.6, 0.1, 0.1], // a (new after blank)
      [0.1, 0.1, 0.1, 0.7], // space
      [0.0, 0.1, 0.9, 0.0], // b
      [0.0, 0.0, 0.5, 0.5 - 1e-3], // b (repeat)
    ]);
    const r = ctcGreedyDecode(probs, 7, 4, labels);
    assert.equal(r.text, 'aa b');
    assert.ok(Math.abs(r.confidence - (0.8 + 0.6 + 0.7 + 0.9) / 4) < 1e-6);
  });

  test('all blanks decode to empty text with confidence 0; sizes are checked', () => {
    const r = ctcGreedyDecode(
      matrix([
        [1, 0, 0, 0],
        [0.9, 0.1, 0, 0],
      ]),
      2,
      4,
      labels,
    );
    assert.deepEqual(r, { text: '', confidence: 0 });
    assert.throws(() => ctcGreedyDecode(new Float32Array(7), 2, 4, labels), RangeError);
    assert.throws(() => ctcGreedyDecode(new Float32Array(8), 2, 4, ['x']), RangeError);
  });
});

describe('DB post-processing', () => {
  const opts: DbOptions = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, minSize: 3, maxCandidates: 1000 };
  function map(width: number, height: number, fill: (x: number, y: number) => number) {
    const data = new Float32Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = fill(x, y);
    return { data, width, height };
  }
  const rect = (x0: number, y0: number, x1: number, y1: number, p: number) => (x: number, y: number) =>
    x >= x0 && x <= x1 && y >= y0 && y <= y1 ? p : 0;

  test('a filled rectangle gives its box, grown by area·ratio/perimeter on each side', () => {
    const m = map(40, 20, rect(5, 6, 24, 11, 0.9));
    const boxes = dbPostprocess(m, 40, 20, opts);
    assert.equal(boxes.length, 1);
    // Pixel centres span 19×5; D = 19·5·1.5 / (2·24) = 2.97.
    assert.deepEqual(boxes[0]!.box, [
      [2, 3],
      [27, 3],
      [27, 14],
      [2, 14],
    ]);
    assert.ok(Math.abs(boxes[0]!.score - 0.9) < 1e-6);
  });

  test('boxes are scaled to the original image size', () => {
    const m = map(40, 20, rect(5, 6, 24, 11, 0.9));
    assert.deepEqual(dbPostprocess(m, 80, 60, opts)[0]!.box, [
      [4, 9],
      [54, 9],
      [54, 42],
      [4, 42],
    ]);
  });

  test('low-scoring, tiny and separate components', () => {
    const m = map(60, 30, (x, y) =>
      Math.max(
        rect(2, 2, 20, 8, 0.45)(x, y),
        rect(30, 2, 31, 3, 0.95)(x, y),
        rect(2, 15, 50, 24, 0.8)(x, y),
        rect(40, 2, 55, 9, 0.7)(x, y),
      ),
    );
    const boxes = dbPostprocess(m, 60, 30, opts);
    // 0.45 > thresh but < boxThresh: dropped; the 2×2 blob is under minSize; two boxes remain.
    assert.equal(boxes.length, 2);
    assert.deepEqual(
      boxes.map((b) => Math.round(b.score * 100)),
      [70, 80],
    );
  });

  test('a rotated band gives a rotated minimum-area box', () => {
    const theta = (10 * Math.PI) / 180;
    const m = map(120, 60, (x, y) => {
      const u = (x - 60) * Math.cos(theta) + (y - 30) * Math.sin(theta);
      const v = -(x - 60) * Math.sin(theta) + (y - 30) * Math.cos(theta);
      return Math.abs(u) <= 40 && Math.abs(v) <= 5 ? 0.9 : 0;
    });
    const [b] = dbPostprocess(m, 120, 60, opts);
    const [p0, p1, p2] = b!.box;
    const angle = (Math.atan2(p1[1] - p0[1], p1[0] - p0[0]) * 180) / Math.PI;
    assert.ok(Math.abs(angle - 10) < 1.5, `angle ${angle}`);
    assert.ok(Math.hypot(p1[0] - p0[0], p1[1] - p0[1]) > Math.hypot(p2[0] - p1[0], p2[1] - p1[1]));
  });

  test('hull, min-area rectangle and corner order on hand-picked points', () => {
    const square: Point[] = [
      [0, 0],
      [4, 0],
      [4, 4],
      [0, 4],
      [2, 2],
      [1, 3],
    ];
    assert.equal(convexHull(square).length, 4);
    const diamond: Point[] = [
      [5, 0],
      [10, 5],
      [5, 10],
      [0, 5],
    ];
    const r = minAreaRect(diamond);
    assert.ok(Math.abs(r.width * r.height - 50) < 1e-9);
    assert.deepEqual(
      orderQuad([
        [10, 10],
        [0, 10],
        [10, 0],
        [0, 0],
      ]),
      [
        [0, 0],
        [10, 0],
        [10, 10],
        [0, 10],
      ],
    );
  });

  test('reading order: by top, then left to right within 10 px', () => {
    const box = (x: number, y: number) =>
      [
        [x, y],
        [x + 5, y],
        [x + 5, y + 5],
        [x, y + 5],
      ] as [Point, Point, Point, Point];
    const sorted = sortReadingOrder([
      { id: 'c', box: box(0, 40) },
      { id: 'b', box: box(50, 2) },
      { id: 'a', box: box(0, 6) },
    ]);
    assert.deepEqual(
      sorted.map((s) => s.id),
      ['a', 'b', 'c'],
    );
  });
});
