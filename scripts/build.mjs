// Bundles the app with esbuild into dist/: main.js (the entry: app/src/launch.ts), server.cjs (the
// server, all roles: app/src/main.ts), inference-thread.cjs (the ONNX Runtime thread), keys.js (key CLI),
// migrations/, console/ (the operator console's static page) and docs/ (the /docs page and its assets). Native packages stay external: the bundle runs with only
// onnxruntime-node (and sharp, for OCR) installed beside it, plus the models.
import { build } from 'esbuild';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const external = ['onnxruntime-node', 'sharp'];
const outdir = process.argv.includes('--outdir')
  ? process.argv[process.argv.indexOf('--outdir') + 1]
  : 'dist';
rmSync(outdir, { recursive: true, force: true });
const started = Date.now();
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Minified code parses faster at start-up.
  minify: true,
  external,
  logLevel: 'warning',
};
// BullMQ (≈ 1.4 MB, the largest input of the server) is its own file, dist/bullmq.cjs: the server
// bundle's `bullmq` is a stand-in whose exports require() that file on first use, which the service
// makes after it listens (app/src/service.ts), so a start neither reads, compiles nor evaluates BullMQ
// before serving. The stand-in lists every export of the installed bullmq.
const bullmqExports = Object.keys(createRequire(import.meta.url)('bullmq'));
const deferredBullmq = {
  name: 'deferred-bullmq',
  setup(b) {
    b.onResolve({ filter: /^bullmq$/ }, () => ({ path: 'bullmq', namespace: 'deferred-bullmq' }));
    b.onLoad({ filter: /.*/, namespace: 'deferred-bullmq' }, () => ({
      loader: 'js',
      contents: [
        'let loaded;',
        "const load = () => (loaded ??= require(require('node:path').join(__dirname, 'bullmq.cjs')));",
        `for (const name of ${JSON.stringify(bullmqExports)})`,
        '  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });',
      ].join('\n'),
    }));
  },
};
// The server as CommonJS: launch.ts runs it with its compiled code cached across starts (V8's code cache
// through vm.Script on Node 20, module.enableCompileCache on 22.1+), which Node 20 cannot do for ESM.
// import.meta.url (which finds the thread, migrations, console and docs beside it) is the file's URL.
await build({
  ...common,
  entryPoints: {
    server: 'app/src/main.ts',
    // loaded by server.cjs only for an s3:// MODEL_SOURCE (see app/src/service.ts)
    's3-source': 'app/src/models/s3-source.ts',
    // CommonJS, so that it require()s onnxruntime-node: imported from ESM, Node would first scan the
    // package's CommonJS files for their export names (cjs-module-lexer), seen in the start-up profile.
    'inference-thread': 'app/src/inference/thread.ts',
  },
  outdir,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  plugins: [deferredBullmq],
  // import() becomes require(): a vm.Script (Node 20's code cache) has no module loader for import()
  // without an experimental flag.
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__clawstack_file_url' },
  // Strict mode as the ESM sources had it: the directive must come first, before the banner's code.
  banner: {
    js: "'use strict'; const __clawstack_file_url = require('node:url').pathToFileURL(__filename).href;",
  },
});
await build({
  ...common,
  entryPoints: { bullmq: 'bullmq' },
  outdir,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // BullMQ loads ioredis only to create a client from options; the service always hands it clients
  // (app/src/jobs/queue.ts), made by the server bundle's own ioredis.
  external: [...external, 'ioredis'],
});
await build({
  ...common,
  entryPoints: {
    main: 'app/src/launch.ts',
    keys: 'app/src/cli/keys.ts',
  },
  outdir,
  format: 'esm',
  // No code splitting: thread, migrations and models are found relative to each entry's own file
  // (import.meta.url), which a shared chunk would move.
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
cpSync('app/migrations', `${outdir}/migrations`, { recursive: true });
// The operator console's page, script and style are served as they are (no build step, no CDN).
cpSync('app/console', `${outdir}/console`, { recursive: true });
// /docs: our page and script, and the Swagger UI assets it loads (served from here, never a CDN).
cpSync('app/src/api/docs', `${outdir}/docs`, { recursive: true });
for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']) {
  cpSync(`node_modules/swagger-ui-dist/${file}`, `${outdir}/docs/${file}`);
}
// dist/package.json: ESM, and exactly the external packages at the versions package-lock.json pins, so
// `cd dist && npm install --omit=dev` gives the bundle all it needs (images do this).
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const dependencies = Object.fromEntries(
  external.map((name) => [name, lock.packages[`node_modules/${name}`].version]),
);
writeFileSync(
  `${outdir}/package.json`,
  `${JSON.stringify({ name: 'clawstack-dist', private: true, type: 'module', main: 'main.js', dependencies }, null, 2)}\n`,
);
console.log(`built ${outdir}/ in ${Date.now() - started} ms`);
