/**
 * Bundles a Lambda handler (./<name>.handler.ts) with esbuild at deploy time into a Pulumi archive
 * holding `index.mjs`. The AWS SDK v3 stays external: the Node.js Lambda runtime ships it.
 */
import { buildSync } from 'esbuild';
import * as pulumi from '@pulumi/pulumi';

/** The Lambda runtime every function of this target uses (a Node.js LTS that Lambda supports). */
export const LAMBDA_RUNTIME = 'nodejs24.x';
const cache = new Map<string, string>();

/** The bundled source of a handler (one ESM file). Deterministic for the same sources. */
export function bundleHandler(name: 'secret-rotation' | 'traffic-compare'): string {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const result = buildSync({
    entryPoints: [new URL(`./${name}.handler.ts`, import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // pg's optional native binding is never used (pure-JS client).
    external: ['@aws-sdk/*', 'pg-native'],
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]!.text;
  cache.set(name, text);
  return text;
}

/** The function code: `index.mjs` (handler `index.handler`). */
export function handlerArchive(name: 'secret-rotation' | 'traffic-compare'): pulumi.asset.AssetArchive {
  return new pulumi.asset.AssetArchive({ 'index.mjs': new pulumi.asset.StringAsset(bundleHandler(name)) });
}
