// Bundles the app with esbuild into dist/: main.js (the server, all roles), inference-thread.js (the
// ONNX Runtime thread), keys.js (key CLI) and migrations/. Native packages stay external: the bundle
// runs with only onnxruntime-node (and sharp, for OCR) installed beside it, plus the models.
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';

const external = ['onnxruntime-node', 'sharp'];
rmSync('dist', { recursive: true, force: true });
const started = Date.now();
await build({
  entryPoints: {
    main: 'app/src/main.ts',
    'inference-thread': 'app/src/inference/thread.ts',
    keys: 'app/src/cli/keys.ts',
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  minifySyntax: true,
  external,
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
cpSync('app/migrations', 'dist/migrations', { recursive: true });
console.log(`built dist/ in ${Date.now() - started} ms`);
