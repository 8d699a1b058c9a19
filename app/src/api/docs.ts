/**
 * `/openapi.json` and `/docs` (Swagger UI), served without an API key. The UI's assets come from the
 * swagger-ui-dist package (copied beside the bundle by scripts/build.mjs), never from a CDN.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';
import { NotFoundError } from '../errors.ts';

/** This folder in the source tree; `dist/docs/` in the bundle (build.mjs copies it there). */
const OWN_DIR = fileURLToPath(new URL('./docs/', import.meta.url));

/** swagger-ui-dist's files: beside the bundle, or the installed package in a source checkout. */
function swaggerUiDir(): string {
  if (existsSync(join(OWN_DIR, 'swagger-ui-bundle.js'))) return OWN_DIR;
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/** The only files under /docs/: ours, and the Swagger UI assets the page loads. */
export const DOCS_ASSETS: Record<string, 'own' | 'swagger-ui'> = {
  'init.js': 'own',
  'swagger-ui.css': 'swagger-ui',
  'swagger-ui-bundle.js': 'swagger-ui',
  'favicon-32x32.png': 'swagger-ui',
};

/** `document` builds the OpenAPI document (once, on the first request). */
export function docsRouter(document: () => unknown) {
  const router = Router();
  let text: string | undefined;
  const uiDir = swaggerUiDir();
  router.get('/openapi.json', (_req, res) => {
    text ??= JSON.stringify(document());
    res.type('application/json').send(text);
  });
  router.get('/docs', (_req, res) => {
    res.sendFile(join(OWN_DIR, 'index.html'));
  });
  router.get('/docs/:file', (req, res) => {
    const file = String(req.params.file);
    const where = DOCS_ASSETS[file];
    if (!Object.hasOwn(DOCS_ASSETS, file) || !where) throw new NotFoundError(`no file /docs/${file}`);
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.sendFile(join(where === 'own' ? OWN_DIR : uiDir, file));
  });
  return router;
}
