/**
 * dist/main.js, the bundle's entry (`node dist/main.js [--role …]`; `npm start` runs main.ts directly).
 *
 * Start-up order: the first inference thread starts at once, so that it loads onnxruntime-node, and
 * creates the sessions the last start loaded (inference/preload-hint.ts), while this thread reads and
 * compiles the server (dist/server.cjs, main.ts bundled); the server's compiled code is cached across
 * starts (compile-cache.ts). The engine takes the thread over when it starts.
 */
import { fileURLToPath } from 'node:url';
import { cachePrefix, runCached, usableCacheDir } from './compile-cache.ts';
import { hintFile, readHint } from './inference/preload-hint.ts';
import { prespawn } from './inference/spawn.ts';
import { epochMs, recordPhase, timed } from './telemetry/startup.ts';

recordPhase('node bootstrap, dist/main.js loaded', performance.timeOrigin, epochMs());
const server = fileURLToPath(new URL('./server.cjs', import.meta.url));
// The preload hint names model files to parse: only from a cache directory that is this user's alone.
const { dir } = usableCacheDir(process.env);
timed('spawn the first inference thread', () => {
  const file = dir && hintFile(dir, cachePrefix(server));
  prespawn(
    new URL('./inference-thread.cjs', import.meta.url),
    file ? { file, preload: readHint(file) } : undefined,
  );
});
timed('server bundle: read, compile, evaluate (to main’s first await)', () => runCached(server));
