/**
 * Tokenizer-free hashed text features: the ONE featurizer shared by `scripts/train-text.ts` (training) and the
 * app's `text.classify` task. Its parameters travel in the model's manifest entry (`preprocess`), so a model and
 * the features it was trained on can never drift apart. Dependency-free and deterministic.
 *
 * Pipeline (`extractMessage` → `hashTextFeatures`):
 *
 * 1. Messages (what the product classifies — an e-mail with or without its header block, or a bare text):
 *    - An RFC 822 header block at the very start (recognised only when every line up to the first blank line
 *      looks like a header and one of them is a common mail header) is dropped except `Subject:` (RFC 2047
 *      encoded-words decoded). Transport headers (`Received:`, dates, list and relay names, the corpus' own
 *      address rewriting) identify *where a corpus was collected*, not what a message says; a model that
 *      learns them scores well on the corpus and badly on real input, so they are never seen.
 *    - MIME: multipart bodies are split on their boundary (nested up to depth 4); text parts are decoded
 *      (base64, quoted-printable); non-text parts (images, attachments) become a marker token (`mime:image`).
 *    - HTML is reduced to its text (`<script>`/`<style>`/comments dropped, entities decoded) plus markers
 *      (`html`, `a-href`, `img`, `font`, `table`, `form`), since markup style is a real spam signal.
 *    - Every URL adds the markers `url` and `host:<host without www.>`.
 * 2. Tokens: lowercase, maximal runs of Unicode letters/digits (`\p{L}\p{N}`), tokens longer than
 *    `maxTokenLength` dropped (base64/hex junk). Features: every word (unigram), every pair of adjacent words
 *    (bigram, when `bigrams`), and the markers, each in its own hash namespace.
 * 3. Hash: 32-bit FNV-1a over the UTF-16 code units (namespace byte first, a 0x20 separator inside bigrams),
 *    finalised with murmur3's fmix32 so that low bits are well mixed; id = 1 + h mod (buckets − 1). Id 0 is
 *    reserved for padding (its embedding row is trained to nothing because padded weights are 0).
 * 4. Cap and weights: the first `maxFeatures` distinct ids in reading order (subject, then body) are kept;
 *    repeats still count. Weight = 1 + ln(count) (sublinear TF), then the vector is L2-normalised, so the
 *    embedding bag is a length-independent weighted mean-like sum.
 */

export interface HashedFeatureSpec {
  /** Identifies this featurizer; bump `version` whenever the output for a given text changes. */
  kind: 'hashed-words-bigrams';
  version: 1;
  /** Embedding-table rows, including the padding row 0; ids are in [1, buckets). */
  buckets: number;
  /** Maximum number of distinct ids per text (longer texts keep the first ones in reading order). */
  maxFeatures: number;
  /** Include word bigrams. */
  bigrams: boolean;
  /** Tokens longer than this (in UTF-16 code units) are dropped. */
  maxTokenLength: number;
  /** Parse e-mail headers/MIME/HTML as described above (false: tokenize the raw text as is). */
  parseEmail: boolean;
}

export const DEFAULT_HASHED_FEATURE_SPEC: HashedFeatureSpec = {
  kind: 'hashed-words-bigrams',
  version: 1,
  buckets: 65536,
  maxFeatures: 2048,
  bigrams: true,
  maxTokenLength: 32,
  parseEmail: true,
};

/** Validates a spec read from a manifest's `preprocess` (throws naming the bad field). */
export function parseHashedFeatureSpec(value: unknown): HashedFeatureSpec {
  if (typeof value !== 'object' || value === null) throw new Error('hashed feature spec: not an object');
  const v = value as Record<string, unknown>;
  if (v.kind !== 'hashed-words-bigrams')
    throw new Error(`hashed feature spec: unsupported kind ${String(v.kind)}`);
  if (v.version !== 1) throw new Error(`hashed feature spec: unsupported version ${String(v.version)}`);
  const int = (name: string, min: number, max: number): number => {
    const x = v[name];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
      throw new Error(`hashed feature spec: ${name} must be an integer in [${min}, ${max}]`);
    }
    return x;
  };
  const bool = (name: string): boolean => {
    const x = v[name];
    if (typeof x !== 'boolean') throw new Error(`hashed feature spec: ${name} must be a boolean`);
    return x;
  };
  return {
    kind: 'hashed-words-bigrams',
    version: 1,
    buckets: int('buckets', 2, 2 ** 31),
    maxFeatures: int('maxFeatures', 1, 1 << 20),
    bigrams: bool('bigrams'),
    maxTokenLength: int('maxTokenLength', 1, 1 << 16),
    parseEmail: bool('parseEmail'),
  };
}

/** A message reduced to what the features look at. */
export interface ExtractedMessage {
  /** Subject and body text, in reading order. */
  text: string;
  /** Structural markers (`html`, `url`, `host:example.com`, `mime:image`…), hashed in their own namespace. */
  markers: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Hashing

const NS_WORD = 1;
const NS_BIGRAM = 2;
const NS_MARKER = 3;

function fnvFeed(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Raw 32-bit hash of a feature: namespace code, then the parts joined by 0x20. Exported for tests. */
export function hashFeature(namespace: number, a: string, b?: string): number {
  let h = Math.imul(0x811c9dc5 ^ namespace, 0x01000193);
  h = fnvFeed(h, a);
  if (b !== undefined) {
    h = Math.imul(h ^ 0x20, 0x01000193);
    h = fnvFeed(h, b);
  }
  return fmix32(h);
}

// ---------------------------------------------------------------------------------------------------------
// Message extraction (headers, MIME, HTML)

const COMMON_HEADERS =
  /^(from|to|subject|date|received|return-path|message-id|mime-version|content-type|reply-to|delivered-to|x-[a-z0-9-]+):/i;
const HEADER_LINE = /^[!-9;-~]+:/; // RFC 5322 field name: printable ASCII except ':'

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Splits a leading header block off `text`; returns null when `text` does not start with one. */
function splitHeaders(text: string): Part | null {
  const end = text.search(/\n[ \t]*\n/);
  const block = end < 0 ? text : text.slice(0, end);
  const lines = block.split('\n');
  let sawCommon = false;
  const headers = new Map<string, string>();
  let inHeader = false; // a continuation line must follow a header line
  let last: string | null = null; // header the continuation lines extend (null: a repeated one, ignored)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (i === 0 && line.startsWith('From ')) continue; // mbox separator line
    if (/^[ \t]/.test(line) && inHeader) {
      if (last !== null) headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    if (!HEADER_LINE.test(line)) return null;
    if (COMMON_HEADERS.test(line)) sawCommon = true;
    inHeader = true;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    // Keep the first occurrence (e.g. of several Received: lines; only content headers matter here).
    if (headers.has(name)) {
      last = null;
    } else {
      headers.set(name, line.slice(colon + 1).trim());
      last = name;
    }
  }
  if (!sawCommon) return null;
  return { headers, body: end < 0 ? '' : text.slice(end).replace(/^\n[ \t]*\n/, '') };
}

function decodeBytes(bytes: Uint8Array, charset: string): string {
  const cs = charset.toLowerCase();
  if (cs === 'utf-8' || cs === 'utf8') {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      /* fall through to latin1 */
    }
  }
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i] as number);
  return s;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64.length; i++) t[B64.charCodeAt(i)] = i;
  t['-'.charCodeAt(0)] = 62; // base64url
  t['_'.charCodeAt(0)] = 63;
  return t;
})();

function base64Decode(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? (B64_INDEX[c] as number) : -1;
    if (v < 0) continue; // whitespace, padding, junk
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >>> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

const UTF8 = new TextEncoder();

function quotedPrintableDecode(s: string): Uint8Array {
  s = s.replace(/=\r?\n/g, '');
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3d && i + 2 < s.length && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out[n++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      // Non-ASCII characters in an already-decoded string: keep them as UTF-8.
      for (const b of UTF8.encode(String.fromCharCode(c))) out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

/** Decodes RFC 2047 encoded-words (`=?charset?B|Q?...?=`) in a header value. */
function decodeEncodedWords(value: string): string {
  return value.replace(
    /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g,
    (_m, charset: string, enc: string, data: string) => {
      const bytes =
        enc.toUpperCase() === 'B' ? base64Decode(data) : quotedPrintableDecode(data.replace(/_/g, ' '));
      return decodeBytes(bytes, charset);
    },
  );
}

function headerParam(value: string, param: string): string | undefined {
  const m = new RegExp(`${param}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

const ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '©',
  reg: '®',
};

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});?/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

const URL_RE = /\b(?:https?|ftp):\/\/([^\s/?#"'<>()[\]]+)/gi;

function addUrlMarkers(text: string, markers: string[]): void {
  for (const m of text.matchAll(URL_RE)) {
    const host = (m[1] as string)
      .toLowerCase()
      .replace(/^www\./, '')
      .replace(/:\d+$/, '')
      .replace(/^[^@]*@/, '');
    markers.push('url', `host:${host}`);
  }
}

const HTML_TAG = /<\/?[a-z][a-z0-9]*\b[^>]*>/i;

function htmlToText(html: string, markers: string[]): string {
  markers.push('html');
  let s = html.replace(/<!--[\s\S]*?-->/g, ' ').replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ');
  for (const m of s.matchAll(/<(a|img|font|table|form)\b[^>]*>/gi)) {
    const tag = (m[1] as string).toLowerCase();
    markers.push(tag === 'a' ? 'a-href' : tag);
    const href = /\b(?:href|src)\s*=\s*["']?([^"'\s>]+)/i.exec(m[0]);
    if (href) addUrlMarkers(href[1] as string, markers);
  }
  s = s.replace(/<[^>]*>/g, ' ');
  return decodeEntities(s);
}

function partToText(part: Part, markers: string[], depth: number, out: string[]): void {
  const ctype = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  const mediaType = (ctype.split(';')[0] ?? '').trim();
  if (mediaType.startsWith('multipart/') && depth < 4) {
    const boundary = headerParam(part.headers.get('content-type') ?? '', 'boundary');
    if (boundary) {
      const chunks = part.body.split(`--${boundary}`);
      // chunks[0] is the preamble ("This is a multi-part message…"), the last one the epilogue after `--`.
      for (let i = 1; i < chunks.length; i++) {
        const chunk = (chunks[i] as string).replace(/^--/, '').replace(/^[ \t]*\n/, '');
        const sub = splitHeaders(chunk) ?? { headers: new Map<string, string>(), body: chunk };
        if (chunk.trim() === '') continue;
        partToText(sub, markers, depth + 1, out);
      }
      return;
    }
  }
  if (mediaType === 'message/rfc822' && depth < 4) {
    const inner = splitHeaders(part.body);
    if (inner) {
      const subject = inner.headers.get('subject');
      if (subject !== undefined) out.push(decodeEncodedWords(subject));
      partToText(inner, markers, depth + 1, out);
      return;
    }
  }
  if (
    mediaType &&
    !mediaType.startsWith('text/') &&
    !mediaType.startsWith('multipart/') &&
    mediaType !== 'message/rfc822'
  ) {
    markers.push(`mime:${mediaType.split('/')[0] ?? mediaType}`);
    return;
  }
  const cte = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase().trim();
  const charset = headerParam(ctype, 'charset') ?? 'utf-8';
  let body = part.body;
  if (cte === 'base64') body = decodeBytes(base64Decode(body), charset);
  else if (cte === 'quoted-printable') body = decodeBytes(quotedPrintableDecode(body), charset);
  if (mediaType === 'text/html' || HTML_TAG.test(body)) body = htmlToText(body, markers);
  out.push(body);
}

/** The decoded `Subject:` of a raw e-mail (undefined when the text has no header block or no subject). */
export function extractSubject(raw: string): string | undefined {
  const top = splitHeaders(raw.replace(/\r\n?/g, '\n'));
  const subject = top?.headers.get('subject');
  return subject === undefined ? undefined : decodeEncodedWords(subject);
}

/**
 * Reduces a message to the text and markers the features use (see the module comment). With
 * `parseEmail: false` the text is used as is (no markers).
 */
export function extractMessage(raw: string, parseEmail = true): ExtractedMessage {
  const markers: string[] = [];
  if (!parseEmail) return { text: raw, markers };
  const text = raw.replace(/\r\n?/g, '\n');
  const top = splitHeaders(text);
  const out: string[] = [];
  if (top) {
    const subject = top.headers.get('subject');
    if (subject !== undefined) out.push(decodeEncodedWords(subject));
    partToText(top, markers, 0, out);
  } else if (HTML_TAG.test(text)) {
    out.push(htmlToText(text, markers));
  } else {
    out.push(text);
  }
  const joined = out.join('\n');
  addUrlMarkers(joined, markers);
  return { text: joined, markers };
}

// ---------------------------------------------------------------------------------------------------------
// Features

/** Features of one text: distinct ids in [1, buckets) in first-occurrence order, with their weights. */
export interface HashedFeatures {
  ids: BigInt64Array;
  weights: Float32Array;
}

/** One code point of a token: a letter or digit of any script (what /[\p{L}\p{N}]+/u matches). */
const TOKEN_CHAR = /^[\p{L}\p{N}]$/u;
const FNV_PRIME = 0x01000193;
const FNV_BASIS = 0x811c9dc5;
/** Whether each non-ASCII BMP code unit is a token character; 0 = not looked up yet, 1 = no, 2 = yes. */
const bmpTokenChar = new Uint8Array(0x10000);

function isTokenCodePoint(cp: number): boolean {
  if (cp < 0x80)
    return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x41 && cp <= 0x5a);
  if (cp <= 0xffff) {
    let k = bmpTokenChar[cp]!;
    if (k === 0) bmpTokenChar[cp] = k = TOKEN_CHAR.test(String.fromCharCode(cp)) ? 2 : 1;
    return k === 2;
  }
  return TOKEN_CHAR.test(String.fromCodePoint(cp));
}

/**
 * The word and bigram hashes of `lower`'s tokens (maximal runs of letters and digits, as
 * /[\p{L}\p{N}]+/gu finds them), in reading order: what `hashFeature(NS_WORD, tok)` and
 * `hashFeature(NS_BIGRAM, prev, tok)` give, bit for bit, computed in one pass over the characters
 * without a match object or a substring per token (the featurizer's hot loop in the serving profile).
 * A token longer than `maxTokenLength` UTF-16 units is dropped and breaks the bigram chain.
 */
function scanTokens(lower: string, spec: HashedFeatureSpec, add: (h: number) => void): void {
  const wordStart = Math.imul(FNV_BASIS ^ NS_WORD, FNV_PRIME);
  const bigramStart = Math.imul(FNV_BASIS ^ NS_BIGRAM, FNV_PRIME);
  const n = lower.length;
  let hasPrev = false;
  /** FNV state of "NS_BIGRAM prev 0x20", ready for this token's characters */
  let prefix = 0;
  let i = 0;
  while (i < n) {
    // Skip to the next token character.
    let c = lower.charCodeAt(i);
    let width = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const cp = lower.codePointAt(i)!;
      if (cp > 0xffff) width = 2;
      if (!isTokenCodePoint(cp)) {
        i += width;
        continue;
      }
    } else if (!isTokenCodePoint(c)) {
      i++;
      continue;
    }
    // A token: feed its UTF-16 units to the word hash, the bigram with the previous token, and the
    // prefix of the next bigram, all at once.
    let word = wordStart;
    let bigram = prefix;
    let next = bigramStart;
    const start = i;
    for (;;) {
      for (let k = 0; k < width; k++) {
        c = lower.charCodeAt(i + k);
        word = Math.imul(word ^ c, FNV_PRIME);
        bigram = Math.imul(bigram ^ c, FNV_PRIME);
        next = Math.imul(next ^ c, FNV_PRIME);
      }
      i += width;
      if (i >= n) break;
      c = lower.charCodeAt(i);
      width = 1;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const cp = lower.codePointAt(i)!;
        if (cp > 0xffff) width = 2;
        if (!isTokenCodePoint(cp)) break;
      } else if (!isTokenCodePoint(c)) break;
    }
    if (i - start > spec.maxTokenLength) {
      hasPrev = false; // do not bridge a bigram across dropped junk
      continue;
    }
    add(fmix32(word));
    if (spec.bigrams && hasPrev) add(fmix32(bigram));
    prefix = Math.imul(next ^ 0x20, FNV_PRIME);
    hasPrev = true;
  }
}

/**
 * Occurrences per id, in first-occurrence order, at most `max` distinct ids (later new ids are not
 * counted; ids already in are). Typed arrays reused across texts instead of a Map per text: `take`
 * reads a count and clears it, so after reading every id in `order` the arrays are clean for the next text.
 */
class IdCounts {
  private readonly counts: Int32Array;
  order: Int32Array;
  size = 0;
  max = 0;

  constructor(buckets: number) {
    this.counts = new Int32Array(buckets);
    this.order = new Int32Array(0);
  }

  reset(max: number): this {
    // A text whose counts were not all taken (an exception midway) leaves none behind.
    for (let i = 0; i < this.size; i++) this.counts[this.order[i]!] = 0;
    this.size = 0;
    this.max = max;
    if (this.order.length < Math.min(max, this.counts.length))
      this.order = new Int32Array(Math.min(max, this.counts.length));
    return this;
  }

  add(id: number): void {
    const c = this.counts[id]!;
    if (c > 0) this.counts[id] = c + 1;
    else if (this.size < this.max) {
      this.counts[id] = 1;
      this.order[this.size++] = id;
    }
  }

  take(id: number): number {
    const c = this.counts[id]!;
    this.counts[id] = 0;
    return c;
  }
}

const scratch = new Map<number, IdCounts>();
function idCounts(buckets: number, max: number): IdCounts {
  let c = scratch.get(buckets);
  if (!c) scratch.set(buckets, (c = new IdCounts(buckets)));
  return c.reset(max);
}

/**
 * Same as `hashTextFeatures` with the ids as an Int32Array (what the trainer indexes its embedding with).
 */
export function hashTextFeaturesInt32(
  text: string,
  spec: HashedFeatureSpec,
): { ids: Int32Array; weights: Float32Array } {
  const { text: body, markers } = extractMessage(text, spec.parseEmail);
  const mod = spec.buckets - 1;
  const counts = idCounts(spec.buckets, spec.maxFeatures);
  const add = (h: number): void => counts.add(1 + (h % mod));
  for (const m of markers) add(hashFeature(NS_MARKER, m));
  scanTokens(body.toLowerCase(), spec, add);
  const n = counts.size;
  const ids = new Int32Array(n);
  const weights = new Float32Array(n);
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const id = counts.order[i]!;
    const w = 1 + Math.log(counts.take(id));
    ids[i] = id;
    weights[i] = w;
    norm += w * w;
  }
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let k = 0; k < n; k++) weights[k] = (weights[k] as number) * inv;
  }
  return { ids, weights };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The model's features for one text: `ids` (int64, feed `ids`) and `weights` (float32, feed `weights`). */
export function hashTextFeatures(text: string, spec: HashedFeatureSpec): HashedFeatures {
  const f = hashTextFeaturesInt32(text, spec);
  const ids = new BigInt64Array(f.ids.length);
  // ids are in [1, buckets) ⊂ [0, 2^31): write each as its low 32-bit word (little-endian; the high word
  // stays 0) instead of a BigInt() per id, which showed up in the serving profile.
  if (LITTLE_ENDIAN) {
    const words = new Int32Array(ids.buffer);
    for (let i = 0; i < f.ids.length; i++) words[2 * i] = f.ids[i] as number;
  } else {
    for (let i = 0; i < f.ids.length; i++) ids[i] = BigInt(f.ids[i] as number);
  }
  return { ids, weights: f.weights };
}

/**
 * Packs several texts' features into the model's `[batch, L]` inputs, zero-padded (id 0, weight 0) to the
 * longest one (L ≥ 1 so that an empty text still makes a valid tensor).
 */
export function packFeatureBatch(items: HashedFeatures[]): {
  ids: BigInt64Array;
  weights: Float32Array;
  dims: [number, number];
} {
  const L = Math.max(1, ...items.map((f) => f.ids.length));
  const ids = new BigInt64Array(items.length * L);
  const weights = new Float32Array(items.length * L);
  items.forEach((f, b) => {
    ids.set(f.ids, b * L);
    weights.set(f.weights, b * L);
  });
  return { ids, weights, dims: [items.length, L] };
}
