/**
 * The CI stack matrix, from the stack files themselves: every Pulumi.<stack>.yaml is one entry with
 * its target (aws | kubernetes | docker) and the credentials its preview needs, so a new stack file
 * gets its offline plan and preview without editing a workflow.
 * Prints `{"include":[{"stack":"dev","target":"aws","credentials":"aws"},…]}`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * What `pulumi preview` of a stack signs in to: `aws` (OIDC role; target aws, and target kubernetes
 * with `cluster: eks`, whose provider is built from the cluster the stack creates), `kubeconfig`
 * (an existing cluster), `none` (target docker: offline plan only).
 */
export type PreviewCredentials = 'aws' | 'kubeconfig' | 'none';

export interface StackEntry {
  stack: string;
  target: string;
  credentials: PreviewCredentials;
}

/** The credentials a stack's preview needs, from its `config:` block. Pure. */
export function previewCredentials(config: Record<string, unknown>): PreviewCredentials {
  const target = String(config['clawstack:target'] ?? 'aws');
  if (target === 'docker') return 'none';
  if (target !== 'kubernetes') return 'aws';
  const section = config['clawstack:kubernetes'];
  const cluster =
    section && typeof section === 'object' ? (section as { cluster?: unknown }).cluster : undefined;
  return cluster === 'eks' ? 'aws' : 'kubeconfig';
}

/** Every stack file under `root`, sorted, with the target it selects (aws when unset). */
export function stackMatrix(root: string): { include: StackEntry[] } {
  const include = readdirSync(root)
    .map((f) => /^Pulumi\.([\w-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort()
    .map((stack) => {
      const doc = parse(readFileSync(path.join(root, `Pulumi.${stack}.yaml`), 'utf8')) as {
        config?: Record<string, unknown>;
      } | null;
      const config = doc?.config ?? {};
      return {
        stack,
        target: String(config['clawstack:target'] ?? 'aws'),
        credentials: previewCredentials(config),
      };
    });
  return { include };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  console.log(JSON.stringify(stackMatrix(process.cwd())));
