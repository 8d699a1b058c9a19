/**
 * Summarizes V8 .cpuprofile files (from `node --cpu-prof`): self time per function, mapped back through
 * the bundle's source map to the original source, and grouped into categories (featurizer, Express,
 * pino, ioredis, zod, Node core, GC, idle…) so that the report says what the server's CPU time went to.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  where: string;
  category: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  thread: string;
  wallMs: number;
  /** When the profiled thread started / the profile ended, µs on the monotonic clock. */
  startUs: number;
  endUs: number;
  /** Time not idle (on CPU in this thread), ms. */
  busyMs: number;
  top: ProfileRow[];
  /** Every function row (not idle), by self time. */
  all: ProfileRow[];
  categories: { category: string; selfMs: number; share: number }[];
}

const maps = new Map<string, SourceMap | null>();
function sourceMapFor(url: string): SourceMap | null {
  // file:// URLs of modules; a plain path for dist/server.cjs, which launch.ts compiles with vm.Script
  const path = url.startsWith('file://') ? fileURLToPath(url) : url.startsWith('/') ? url : undefined;
  if (!path || !/\.c?js$/.test(path)) return null;
  let m = maps.get(url);
  if (m === undefined) {
    try {
      m = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
    } catch {
      m = null;
    }
    maps.set(url, m);
  }
  return m;
}

function originalLocation(cf: ProfileNode['callFrame']): string {
  const map = sourceMapFor(cf.url);
  if (map && cf.lineNumber >= 0) {
    const e = map.findEntry(cf.lineNumber, cf.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (e.originalSource) {
      const src = e.originalSource
        .replace(/^(?:\.\.\/)+/, '')
        .replace(/^.*?(node_modules\/|app\/src\/)/, '$1');
      return `${src}:${(e.originalLine ?? 0) + 1}`;
    }
  }
  if (!cf.url) return '(native)';
  return `${cf.url.replace(/^file:\/\/.*?node_modules\//, 'node_modules/')}:${cf.lineNumber + 1}`;
}

export function categorize(name: string, where: string, url = ''): string {
  if (name === '(idle)') return 'idle';
  // Frames of a package's own (source-mapped) files: the package is in the URL, not in the mapped path.
  if (url.includes('/node_modules/') && !url.includes('/node_modules/.cache/'))
    return categorize(name, url.replace(/^file:\/\/.*?node_modules\//, 'node_modules/'));
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8/native (program)';
  if (where.includes('modalities/text/features.ts')) return 'featurizer (hashTextFeatures)';
  // Bundle lines without a source-map entry: esbuild's module wrappers (__esm/__commonJS init) and banner.
  if (where.includes('node_modules/.cache/') || /\/dist\/[\w-]+\.c?js:\d+$/.test(where))
    return 'bundle: module init (esbuild wrappers)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (pkg) {
    const p = pkg[1]!;
    if (
      [
        'express',
        'router',
        'body-parser',
        'raw-body',
        'finalhandler',
        'send',
        'on-finished',
        'type-is',
        'content-type',
        'qs',
        'debug',
        'depd',
        'iconv-lite',
      ].includes(p)
    )
      return 'Express + body parsing';
    if (p.startsWith('pino') || p === 'thread-stream' || p === 'sonic-boom' || p === 'fast-redact')
      return 'pino / pino-http';
    if (p === 'bullmq' || p === 'msgpackr') return 'BullMQ (queue, worker)';
    if (p === 'ioredis' || p === 'rate-limiter-flexible' || p === 'redis-parser')
      return 'Redis (ioredis, rate limiter)';
    if (p === 'pg' || p.startsWith('pg-')) return 'Postgres client';
    if (p === 'zod') return 'zod validation';
    if (p === 'prom-client' || p === 'tdigest' || p === 'bintrees') return 'prom-client metrics';
    if (p === 'helmet') return 'helmet';
    if (p === 'onnxruntime-node' || p === 'onnxruntime-common') return 'onnxruntime (JS side)';
    return `other package: ${p}`;
  }
  if (where.includes('app/src/inference/')) return 'app: inference engine (collate, postMessage)';
  if (where.includes('app/src/')) return `app: ${where.replace(/^.*app\/src\//, '').replace(/:\d+$/, '')}`;
  if (
    /^node:internal\/(modules|bootstrap|deps\/cjs-module-lexer|process\/pre_execution)|^node:(fs|path|module):/.test(
      where,
    )
  ) {
    return 'Node core: module loading (read + compile)';
  }
  if (where.startsWith('node:') || where.includes('node:internal')) {
    if (/_http|http_parser|HTTPParser|node:net|stream|node:internal\/(http|net|stream_base)/.test(where))
      return 'Node core: http/net/streams';
    return 'Node core: other';
  }
  if (where === '(native)') {
    if (
      /^(writev|writeBuffer|writeUtf8String|writeLatin1String|shutdown|close|execute|parse|connect|read)$/.test(
        name,
      )
    )
      return 'Node core: http/net/streams';
    if (
      /^(readFileUtf8|openFileHandle|internalModuleStat|fstat|lstat|realpath|compileFunction|compileFunctionForCJSLoader|readFileSync|dlopen)$/.test(
        name,
      )
    ) {
      return 'Node core: module loading (read + compile)';
    }
    if (name.startsWith('RegExp: ')) return 'RegExp execution';
    return `native: ${name || '(anonymous)'}`;
  }
  return 'other';
}

/**
 * `window` (µs on the monotonic clock, as `process.hrtime.bigint() / 1000n` in any process on the machine, which
 * is the clock V8's profiler stamps samples with) keeps only the samples taken inside it, e.g. only the
 * load phase of a server that was profiled from start to exit.
 */
export function summarizeProfile(
  file: string,
  topN = 15,
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample; attribute it to the sample it leads to.
  let t = prof.startTime;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    first = Math.min(first, t - dt);
    last = Math.max(last, t);
    const id = prof.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt / 1000);
  }
  const rows = new Map<string, ProfileRow>();
  let idle = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName || '(anonymous)';
    const special = ['(idle)', '(program)', '(garbage collector)', '(root)'].includes(name);
    const where = special ? '' : originalLocation(node.callFrame);
    if (name === '(idle)') idle += ms;
    const key = `${name} ${where}`;
    const row = rows.get(key) ?? {
      name,
      where,
      category: categorize(name, where, node.callFrame.url),
      selfMs: 0,
      share: 0,
    };
    row.selfMs += ms;
    rows.set(key, row);
  }
  const wallMs = window ? Math.max(0, last - first) / 1000 : (prof.endTime - prof.startTime) / 1000;
  const busyMs = Math.max(1e-9, wallMs - idle);
  const all = [...rows.values()].filter((r) => r.name !== '(idle)');
  for (const r of all) r.share = r.selfMs / busyMs;
  const cats = new Map<string, number>();
  for (const r of all) cats.set(r.category, (cats.get(r.category) ?? 0) + r.selfMs);
  const threadMatch = /\.(\d+)\.(\d+)\.cpuprofile$/.exec(file);
  return {
    file,
    thread: threadMatch ? `pid ${threadMatch[1]} thread ${threadMatch[2]}` : file,
    wallMs,
    startUs: prof.startTime,
    endUs: prof.endTime,
    busyMs,
    top: all.sort((a, b) => b.selfMs - a.selfMs).slice(0, topN),
    all,
    categories: [...cats]
      .map(([category, selfMs]) => ({ category, selfMs, share: selfMs / busyMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
}

/** Share of on-CPU time of the categories matching `test`. */
export function categoryShare(s: ProfileSummary | undefined, test: (category: string) => boolean): number {
  if (!s) return NaN;
  return s.categories.filter((c) => test(c.category)).reduce((a, c) => a + c.share, 0);
}

/** Source size per package in a bundle, from its source map's sourcesContent (KB), largest first. */
export function bundleComposition(mapFile: string): {
  bytes: number;
  packages: { name: string; kb: number }[];
} {
  const map = JSON.parse(readFileSync(mapFile, 'utf8')) as {
    sources: string[];
    sourcesContent?: (string | null)[];
  };
  const by = new Map<string, number>();
  map.sources.forEach((src, i) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(src);
    const name = m ? m[1]! : src.includes('app/src/') ? 'app (clawstack)' : 'other';
    by.set(name, (by.get(name) ?? 0) + (map.sourcesContent?.[i]?.length ?? 0));
  });
  const bytes = statSync(mapFile.replace(/\.map$/, '')).size;
  return {
    bytes,
    packages: [...by].map(([name, b]) => ({ name, kb: b / 1024 })).sort((a, b) => b.kb - a.kb),
  };
}
