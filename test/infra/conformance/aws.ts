/** The AWS target read as containers: the docker run lines in the user-data, the ALB/Caddy health path. */
import { ofType } from '../../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../../scripts/plan/harness.ts';
import { configFor, UNTAGGABLE, userDataOf } from '../helpers.ts';
import type { ConformanceAdapter, DeclaredContainer } from './types.ts';

function readinessPath(run: ProgramRun, userData: string): string | undefined {
  const tg = ofType(run, 'aws:lb/targetGroup:TargetGroup')[0];
  if (tg) return (tg.inputs.healthCheck as { path?: string } | undefined)?.path;
  return /health_uri (\S+)/.exec(userData)?.[1];
}

function parseRun(line: string, userData: string, run: ProgramRun): DeclaredContainer {
  const role = /-e CLAWSTACK_ROLE=(\w+)/.exec(line)?.[1] ?? /--name clawstack-(\w+)/.exec(line)![1]!;
  const cpus = /--cpus (\S+)/.exec(line)?.[1];
  const memory = /--memory (\d+)m/.exec(line)?.[1];
  const appEnv =
    /path: "\/etc\/clawstack\/app.env"\n(?:\s+permissions: .*\n)?\s+content: \|\n((?:\s{6}.*\n)+)/.exec(
      userData,
    )?.[1] ?? '';
  const env = Object.fromEntries(
    appEnv
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  return {
    role,
    readinessPath: readinessPath(run, userData),
    stopGraceSeconds: Number(/--stop-timeout (\d+)/.exec(line)?.[1] ?? NaN),
    cpuLimitMillis: cpus ? Math.round(Number(cpus) * 1000) : NaN,
    memoryMiB: memory ? Number(memory) : NaN,
    gpus: /--gpus/.test(line) ? 1 : 0,
    env: { ...env, CLAWSTACK_ROLE: role },
  };
}

/** Tags as a map; an Auto Scaling group lists them as {key, value, propagateAtLaunch}. */
function tagsOf(tags: unknown): Record<string, string> {
  if (Array.isArray(tags))
    return Object.fromEntries(tags.map((t: { key: string; value: string }) => [t.key, t.value]));
  return (tags ?? {}) as Record<string, string>;
}

export const awsAdapter: ConformanceAdapter = {
  target: 'aws',
  config: (c, extra) => configFor(c, extra),
  containers(run) {
    const userData = userDataOf(run);
    const lines = userData
      .split('\n')
      .filter((l) => /ExecStart=\/usr\/bin\/docker run .*-e CLAWSTACK_ROLE=/.test(l));
    return lines.map((l) => parseRun(l, userData, run));
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
