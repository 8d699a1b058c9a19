/**
 * The CI stack matrix, from the stack files themselves: every Pulumi.<stack>.yaml is one entry with
 * its target (aws | kubernetes | docker), so a new stack file gets its offline plan and preview
 * without editing a workflow. Prints `{"include":[{"stack":"dev","target":"aws"},…]}`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface StackEntry {
  stack: string;
  target: string;
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
      return { stack, target: String(doc?.config?.['clawstack:target'] ?? 'aws') };
    });
  return { include };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  console.log(JSON.stringify(stackMatrix(process.cwd())));
