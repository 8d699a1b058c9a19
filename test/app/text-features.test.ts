import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  DEFAULT_HASHED_FEATURE_SPEC,
  extractMessage,
  hashFeature,
  hashTextFeatures,
  hashTextFeaturesInt32,
  packFeatureBatch,
  parseHashedFeatureSpec,
} from '../../app/src/modalities/text/features.ts';
import type { HashedFeatureSpec } from '../../app/src/modalities/text/features.ts';
import { featureDigest, goldenTexts } from '../fixtures/text/golden-inputs.ts';

const SPEC = DEFAULT_HASHED_FEATURE_SPEC;
const idOf = (h: number, spec: HashedFeatureSpec = SPEC): number => 1 + (h % (spec.buckets - 1));
const idSet = (text: string, spec: HashedFeatureSpec = SPEC): Set<number> =>
  new Set(hashTextFeaturesInt32(text, spec).ids);

test('deterministic: same text, same ids and weights; known FNV-1a/fmix32 values', () => {
  const text = 'Get cheap meds NOW!!! Visit http://pills.example.com today.';
  const a = hashTextFeatures(text, SPEC);
  const b = hashTextFeatures(text, SPEC);
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(a.weights, b.weights);
  // Pinned values: changing the hash changes every shipped model's input, so this must fail loudly.
  assert.equal(hashFeature(1, 'hello'), 1273232651);
  assert.equal(hashFeature(2, 'hello', 'world'), 1525183958);
  assert.equal(hashFeature(3, 'html'), 362709137);
  assert.notEqual(hashFeature(1, 'hello'), hashFeature(3, 'hello'));
  // win, money, "win money", now, "money now" with 65,536 buckets
  assert.deepEqual(
    [...hashTextFeaturesInt32('Win money now', SPEC).ids],
    [38145, 17997, 64365, 30067, 16058],
  );
  assert.equal(hashFeature(1, ''), fmix32Ref(Math.imul(0x811c9dc5 ^ 1, 0x01000193)));
  assert.equal(
    hashFeature(1, 'a'),
    fmix32Ref(Math.imul(Math.imul(0x811c9dc5 ^ 1, 0x01000193) ^ 0x61, 0x01000193)),
  );
});

function fmix32Ref(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('ids are in [1, buckets), distinct, int64; weights are L2-normalised with sublinear TF', () => {
  const f = hashTextFeatures('spam spam spam spam eggs', SPEC);
  assert.ok(f.ids instanceof BigInt64Array);
  assert.ok(f.weights instanceof Float32Array);
  assert.equal(f.ids.length, f.weights.length);
  assert.equal(new Set(f.ids).size, f.ids.length);
  for (const id of f.ids) assert.ok(id >= 1n && id < BigInt(SPEC.buckets));
  const norm = Math.hypot(...f.weights);
  assert.ok(Math.abs(norm - 1) < 1e-6, `norm ${norm}`);
  // spam ×4, eggs ×1, "spam spam" ×3, "spam eggs" ×1 (no header block: plain text, no markers)
  const ids = [...hashTextFeaturesInt32('spam spam spam spam eggs', SPEC).ids];
  const w = (id: number): number => f.weights[ids.indexOf(id)] as number;
  const spam = idOf(hashFeature(1, 'spam'));
  const eggs = idOf(hashFeature(1, 'eggs'));
  assert.ok(Math.abs(w(spam) / w(eggs) - (1 + Math.log(4))) < 1e-5);
  assert.equal(ids.length, 4);
});

test('lowercases and splits on non-alphanumerics; word bigrams present (and can be turned off)', () => {
  const ids = idSet('Hello, WORLD!');
  assert.ok(ids.has(idOf(hashFeature(1, 'hello'))));
  assert.ok(ids.has(idOf(hashFeature(1, 'world'))));
  assert.ok(ids.has(idOf(hashFeature(2, 'hello', 'world'))));
  assert.ok(!ids.has(idOf(hashFeature(2, 'world', 'hello'))));
  assert.deepEqual(idSet('hello world'), idSet('HELLO...world'));
  const noBigrams = idSet('hello world', { ...SPEC, bigrams: false });
  assert.equal(noBigrams.size, 2);
  assert.ok(!noBigrams.has(idOf(hashFeature(2, 'hello', 'world'))));
});

test('tokens longer than maxTokenLength are dropped and do not bridge bigrams', () => {
  const junk = 'x'.repeat(SPEC.maxTokenLength + 1);
  const ids = idSet(`alpha ${junk} beta`);
  assert.ok(!ids.has(idOf(hashFeature(1, junk))));
  assert.ok(!ids.has(idOf(hashFeature(2, 'alpha', 'beta'))));
  assert.equal(ids.size, 2);
});

test('caps at maxFeatures distinct ids, keeping the first ones in reading order', () => {
  const words = Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ');
  const spec = { ...SPEC, maxFeatures: 10 };
  const f = hashTextFeaturesInt32(words, spec);
  assert.equal(f.ids.length, 10);
  assert.equal(f.ids[0], idOf(hashFeature(1, 'w0')));
  assert.ok(hashTextFeaturesInt32(words, SPEC).ids.length > 10);
  assert.ok(hashTextFeaturesInt32(words.repeat(20), SPEC).ids.length <= SPEC.maxFeatures);
});

test('empty and symbol-only texts give no features; packing still yields a valid [B, ≥1] tensor', () => {
  for (const t of ['', '   \n\t', '!!! ??? ...']) {
    const f = hashTextFeatures(t, SPEC);
    assert.equal(f.ids.length, 0);
    assert.equal(f.weights.length, 0);
  }
  const packed = packFeatureBatch([hashTextFeatures('', SPEC), hashTextFeatures('a b c', SPEC)]);
  assert.deepEqual(packed.dims, [2, 5]);
  assert.equal(packed.ids[0], 0n); // padding row
  assert.equal(packed.weights[0], 0);
  assert.ok(packed.ids[5] !== 0n);
  assert.deepEqual(packFeatureBatch([hashTextFeatures('', SPEC)]).dims, [1, 1]);
});

test('unicode: letters and digits of any script are tokens, case-folded; emoji and punctuation split', () => {
  const ids = idSet('Grüße aus Köln — ПРИВЕТ мир 東京 ١٢٣ 🎉🎉');
  for (const w of ['grüße', 'aus', 'köln', 'привет', 'мир', '東京', '١٢٣'])
    assert.ok(ids.has(idOf(hashFeature(1, w))), w);
  assert.ok(ids.has(idOf(hashFeature(2, 'привет', 'мир'))));
  assert.deepEqual(idSet('ПРИВЕТ'), idSet('привет'));
  assert.equal(hashTextFeatures('🎉 — …', SPEC).ids.length, 0);
});

test('e-mail: transport headers ignored, subject kept, MIME/QP/base64/HTML decoded with markers', () => {
  const body = 'Buy cheap watches';
  const mail = [
    'From someone@example.com  Thu Aug 22 12:36:23 2002',
    'Received: from relay.example.net by mx.example.org',
    '\twith ESMTP id 12345',
    'From: "Deals" <deals@shop.example>',
    'Subject: =?utf-8?B?R3LDvMOfZQ==?= offer',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="XYZ"',
    '',
    'This is a multi-part message in MIME format.',
    '--XYZ',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Caf=C3=A9 special: =',
    'today',
    '--XYZ',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from(
      `<html><body><a href="http://www.shop.example/buy">${body}</a> &amp; more<script>var tracking=1</script></body></html>`,
    ).toString('base64'),
    '--XYZ',
    'Content-Type: image/gif',
    'Content-Transfer-Encoding: base64',
    '',
    'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
    '--XYZ--',
  ].join('\r\n');
  const e = extractMessage(mail);
  assert.match(e.text, /^Grüße offer/);
  assert.match(e.text, /Café special: today/);
  assert.match(e.text, /Buy cheap watches/);
  assert.doesNotMatch(e.text, /relay|ESMTP|tracking|deals@|multi-part/);
  for (const m of ['html', 'a-href', 'url', 'host:shop.example', 'mime:image'])
    assert.ok(e.markers.includes(m), m);
  const ids = idSet(mail);
  assert.ok(ids.has(idOf(hashFeature(1, 'grüße'))));
  assert.ok(ids.has(idOf(hashFeature(3, 'host:shop.example'))));
  assert.ok(!ids.has(idOf(hashFeature(1, 'esmtp'))));
  // Same message without a header block is just text.
  assert.equal(extractMessage('Note: call me later').text, 'Note: call me later');
  assert.equal(extractMessage('Subject: hi\n\nhello there').text, 'hi\nhello there');
  // parseEmail: false leaves everything to the tokenizer.
  assert.ok(idSet(mail, { ...SPEC, parseEmail: false }).has(idOf(hashFeature(1, 'esmtp'))));
});

test('parseHashedFeatureSpec accepts the default spec and rejects bad fields', () => {
  assert.deepEqual(parseHashedFeatureSpec(JSON.parse(JSON.stringify(SPEC))), SPEC);
  assert.throws(() => parseHashedFeatureSpec({ ...SPEC, buckets: 1 }), /buckets/);
  assert.throws(() => parseHashedFeatureSpec({ ...SPEC, kind: 'other' }), /kind/);
  assert.throws(() => parseHashedFeatureSpec({ ...SPEC, bigrams: 'yes' }), /bigrams/);
  assert.throws(() => parseHashedFeatureSpec(null), /object/);
});

test('golden: every held-out e-mail and edge text gives the ids and weights the regex tokenizer gave', () => {
  const golden = JSON.parse(readFileSync('test/fixtures/text/features-golden.json', 'utf8')) as {
    specs: Record<string, HashedFeatureSpec>;
    digests: Record<string, string[]>;
  };
  const texts = goldenTexts();
  for (const [name, spec] of Object.entries(golden.specs)) {
    const want = golden.digests[name]!;
    assert.equal(want.length, texts.length);
    texts.forEach((t, i) =>
      assert.equal(featureDigest(t, spec), want[i], `${name} #${i}: ${t.slice(0, 60)}`),
    );
  }
});

/** The tokenizer before the scanner: lowercased, /[\p{L}\p{N}]+/gu, hashed per token (the oracle). */
function regexFeatures(body: string, spec: HashedFeatureSpec): number[] {
  const out: number[] = [];
  let prev: string | undefined;
  for (const m of body.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const tok = m[0];
    if (tok.length > spec.maxTokenLength) {
      prev = undefined;
      continue;
    }
    out.push(hashFeature(1, tok));
    if (spec.bigrams && prev !== undefined) out.push(hashFeature(2, prev, tok));
    prev = tok;
  }
  return out;
}

test('tokenizer: random strings over ASCII, Latin, Cyrillic, CJK, astral letters, emoji and lone surrogates match the regex', () => {
  const pool = [
    ...'aZ09 _-.,!\t\n',
    ...'éÜßİıǅẞﬁ',
    ...'ПРИВЕТмир',
    ...'東京١٢٣',
    '𝐀',
    '𝟙',
    '𐐀',
    '🎉',
    '\uD800',
    '\uDC00',
  ];
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const spec = { ...SPEC, parseEmail: false, maxTokenLength: 6, maxFeatures: 100_000 };
  for (let k = 0; k < 2000; k++) {
    let s = '';
    for (let j = rand(40); j > 0; j--) s += pool[rand(pool.length)];
    const want = regexFeatures(s, spec).map((h) => idOf(h, spec));
    // distinct ids in first-occurrence order
    assert.deepEqual([...hashTextFeaturesInt32(s, spec).ids], [...new Set(want)], JSON.stringify(s));
  }
});
