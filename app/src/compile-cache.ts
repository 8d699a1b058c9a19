/**
 * Runs a CommonJS bundle with its compiled code cached across starts. Node reads and compiles the
 * server bundle (≈ 3.5 MB) at every start; the start-up profile showed that as the largest share of
 * the main thread's start-up time (docs/benchmarks.md).
 *
 * - Node 22.1+: `module.enableCompileCache()` (Node's own cache; NODE_COMPILE_CACHE names its directory,
 *   default `<tmpdir>/node-compile-cache`), then `require()`.
 * - Node 20 (no enableCompileCache): V8's code cache by hand, as v8-compile-cache does: the bundle is
 *   compiled with `vm.Script` from the cached data when there is one, and the cache is written after the
 *   bundle's top level ran (so it holds the functions start-up compiled, not only the top level).
 *   Such a script has no module loader for `import()` (not without an experimental flag): the bundle
 *   uses require() only (scripts/build.mjs turns its import() calls into require()).
 *
 * A cache that does not fit (another Node or V8 flags, another bundle) is refused by V8 or by its name
 * and the bundle compiles as if there were none; a cache directory that is not writable only costs the
 * cache. NODE_COMPILE_CACHE=off (or CLAWSTACK_COMPILE_CACHE=off) disables both. A directory that is not
 * this user's alone (another owner, writable by others, a symbolic link) is not used at all.
 */
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { BUNDLE_COMPILE_PHASE, timed } from './telemetry/startup.ts';

export interface CacheKeyInput {
  file: string;
  size: number;
  mtimeMs: number;
  node: string;
  arch: string;
  execArgv: string[];
}

const hash = (x: unknown, n: number) =>
  createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, n);

/**
 * The cache file's name: one per bundle file and build, Node version, architecture and Node flags; it
 * starts with the bundle file's own prefix (`cachePrefix`), so that a new build's cache replaces the
 * old build's.
 */
export function cacheFileName(k: CacheKeyInput): string {
  return `${cachePrefix(k.file)}${hash([k.size, k.mtimeMs, k.node, k.arch, k.execArgv], 16)}.v8cache`;
}

export const cachePrefix = (file: string): string => `clawstack-${hash(file, 8)}-`;

/** The cache directory, or undefined when caching is off. */
export function cacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.CLAWSTACK_COMPILE_CACHE === 'off' || env.NODE_COMPILE_CACHE === 'off') return undefined;
  return env.NODE_COMPILE_CACHE || join(tmpdir(), 'node-compile-cache');
}

export interface DirFacts {
  isDirectory: boolean;
  isSymbolicLink: boolean;
  uid: number;
  mode: number;
}

/**
 * Why the cache directory must not be used, or undefined when it may. What is in it becomes code this
 * process runs (V8's code cache) and model files it parses (the preload hint), and its default is under
 * the shared tmpdir: another local user who created it first, or can write to it, must not get either.
 */
export function untrustedDirReason(d: DirFacts, uid: number | undefined): string | undefined {
  if (d.isSymbolicLink) return 'is a symbolic link';
  if (!d.isDirectory) return 'is not a directory';
  if (uid !== undefined && d.uid !== uid) return `belongs to uid ${d.uid}, not this process's uid ${uid}`;
  if (d.mode & 0o022) return `is writable by others (mode ${(d.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * The cache directory to use (created 0700 if missing), or undefined when caching is off or the
 * directory is not this user's alone (then the start compiles in full, as with caching off).
 */
export function usableCacheDir(env: NodeJS.ProcessEnv): { dir?: string; untrusted?: string } {
  const dir = cacheDir(env);
  if (!dir) return {};
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const facts = {
      isDirectory: st.isDirectory(),
      isSymbolicLink: st.isSymbolicLink(),
      uid: st.uid,
      mode: st.mode,
    };
    const untrusted = untrustedDirReason(facts, process.getuid?.());
    return untrusted ? { untrusted: `${dir} ${untrusted}` } : { dir };
  } catch (err) {
    return { untrusted: `${dir}: ${(err as Error).message}` };
  }
}

export type CacheOutcome = 'node' | 'hit' | 'miss' | 'rejected' | 'off' | 'untrusted';

const enableCompileCache = (nodeModule as { enableCompileCache?: (dir?: string) => unknown })
  .enableCompileCache;

/** Runs the CommonJS file `file` as the main module would be run; says how its code was compiled. */
export function runCached(file: string, env: NodeJS.ProcessEnv = process.env): CacheOutcome {
  const { dir, untrusted } = usableCacheDir(env);
  const requireHere = createRequire(file);
  if (dir && enableCompileCache) {
    enableCompileCache(dir);
    requireHere(file);
    return 'node';
  }
  if (!dir) {
    if (untrusted) process.emitWarning(`compile cache not used: ${untrusted}`, 'ClawstackWarning');
    requireHere(file);
    return untrusted ? 'untrusted' : 'off';
  }
  const st = statSync(file);
  const cacheFile = join(
    dir,
    cacheFileName({
      file,
      size: st.size,
      mtimeMs: st.mtimeMs,
      node: process.version,
      arch: process.arch,
      execArgv: process.execArgv,
    }),
  );
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* no cache yet */
  }
  // The same wrapper as Node's CommonJS loader, so the bundle sees exports, require, module, …
  const script = timed(BUNDLE_COMPILE_PHASE, () => {
    // Read as bytes, then decoded: readFileSync(file, 'utf8') cost ≈ 10–15 ms more CPU for the same
    // string (Node 20.20; docs/benchmarks.md, start-up). A cache hit needs the source too (lazy functions).
    const source = readFileSync(file).toString('utf8');
    return new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
      filename: file,
      cachedData,
    });
  });
  const outcome: CacheOutcome = !cachedData ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit';
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  wrapper.call(mod.exports, mod.exports, requireHere, mod, file, dirname(file));
  if (outcome !== 'hit')
    timed('server bundle: write the code cache', () => saveCache(script, dir, cacheFile, cachePrefix(file)));
  return outcome;
}

function saveCache(script: Script, dir: string, cacheFile: string, prefix: string) {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // code to run: readable by this user only
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, cacheFile); // atomic: a process starting meanwhile reads the old file or the new one
    // Earlier builds' caches of the same bundle file are never read again.
    for (const f of readdirSync(dir))
      if (f.startsWith(prefix) && f.endsWith('.v8cache') && join(dir, f) !== cacheFile) rmSync(join(dir, f));
  } catch {
    /* a read-only or full disk only costs the cache */
  }
}
