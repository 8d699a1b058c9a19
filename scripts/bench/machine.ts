/**
 * What a benchmark result was measured on: the commit of the code (with `-dirty` when tracked files
 * differ from it), the CPU model, cores and load average. Both benches print it with their results.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';

export interface RunInfo {
  /** `git rev-parse --short HEAD`, plus `-dirty` when tracked files have uncommitted changes. */
  commit: string;
  cpuModel: string;
  cores: number;
  loadAvg: number[];
  date: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function gitCommit(): string {
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (!head) return 'unknown (not a git checkout)';
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return dirty ? `${head}-dirty` : head;
}

export function runInfo(): RunInfo {
  const c = cpus();
  return {
    commit: gitCommit(),
    cpuModel: c[0]?.model.trim() || 'unknown CPU',
    cores: c.length,
    loadAvg: loadavg(),
    date: new Date().toISOString(),
  };
}

/** "1.47 1.24 1.48" */
export const formatLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
