/**
 * The AWS target read as containers: the api and worker units' `docker run` lines and env files in the
 * user-data, and the ALB/Caddy health path.
 */
import { parse } from 'yaml';
import { ofType } from '../../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../../scripts/plan/harness.ts';
import { configFor, UNTAGGABLE, userDataOf } from '../helpers.ts';
import type { ConformanceAdapter, DeclaredContainer } from './types.ts';

interface WriteFile {
  path: string;
  content: string;
}

function readinessPath(run: ProgramRun, userData: string): string | undefined {
  const tg = ofType(run, 'aws:lb/targetGroup:TargetGroup')[0];
  if (tg) return (tg.inputs.healthCheck as { path?: string } | undefined)?.path;
  return /health_uri (\S+)/.exec(userData)?.[1];
}

/** `KEY=value` lines → a map (Docker reads values literally). */
function envOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

function parseRun(line: string, files: Map<string, string>, readiness?: string): DeclaredContainer {
  const role = /--name clawstack-(\w+)/.exec(line)![1]!;
  const cpus = /--cpus (\S+)/.exec(line)?.[1];
  const memory = /--memory (\d+)m/.exec(line)?.[1];
  // Only the plain env files (under /etc); /run holds what boot resolves from the secret templates.
  const envFiles = [...line.matchAll(/--env-file (\/etc\/\S+)/g)].map((m) => m[1]!);
  const env = Object.assign({}, ...envFiles.map((f) => envOf(files.get(f) ?? ''))) as Record<string, string>;
  return {
    role,
    readinessPath: role === 'api' ? readiness : undefined,
    stopGraceSeconds: Number(/--stop-timeout (\d+)/.exec(line)?.[1] ?? NaN),
    cpuLimitMillis: cpus ? Math.round(Number(cpus) * 1000) : NaN,
    memoryMiB: memory ? Number(memory) : NaN,
    gpus: Number(/--gpus (\d+)/.exec(line)?.[1] ?? 0),
    env,
  };
}

/** Tags as a map; an Auto Scaling group lists them as {key, value, propagateAtLaunch}. */
function tagsOf(tags: unknown): Record<string, string> {
  if (Array.isArray(tags))
    return Object.fromEntries(tags.map((t: { key: string; value: string }) => [t.key, t.value]));
  return (tags ?? {}) as Record<string, string>;
}

export const awsAdapter: ConformanceAdapter = {
  // The ALB, or Caddy on the instance: every AWS tier has exactly one.
  proxyHops: () => 1,
  target: 'aws',
  config: (c, extra) => configFor(c, extra),
  containers(run) {
    const userData = userDataOf(run);
    const doc = parse(userData) as { write_files: WriteFile[] };
    const files = new Map(doc.write_files.map((f) => [f.path, f.content]));
    const readiness = readinessPath(run, userData);
    return doc.write_files
      .filter((f) => /^\/etc\/systemd\/system\/clawstack-(api|worker)\.service$/.test(f.path))
      .map((f) =>
        parseRun(/^ExecStart=(\/usr\/bin\/docker run .*)$/m.exec(f.content)![1]!, files, readiness),
      );
  },
  labelled(run) {
    return run.resources
      .filter((r) => r.custom && r.type.startsWith('aws:') && !UNTAGGABLE.has(r.type))
      .map((r) => ({
        resource: `${r.type} ${r.name}`,
        labels: tagsOf(r.inputs.tags),
      }));
  },
  texts: (run) => [['launch template user-data (decoded)', userDataOf(run)]],
};
