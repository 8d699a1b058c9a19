/**
 * dist/main.js, the bundle's entry (`node dist/main.js [--role …]`; `npm start` runs main.ts directly).
 *
 * Start-up order: the first inference thread starts at once, so that it loads onnxruntime-node while
 * this thread reads and compiles the server (dist/server.cjs, main.ts bundled); the server's compiled
 * code is cached across starts (compile-cache.ts). The engine takes the thread over when it starts.
 */
import { fileURLToPath } from 'node:url';
import { runCached } from './compile-cache.ts';
import { prespawn } from './inference/spawn.ts';

prespawn(new URL('./inference-thread.cjs', import.meta.url));
runCached(fileURLToPath(new URL('./server.cjs', import.meta.url)));
