/**
 * What a benchmark result was measured on: the commit of the code (with `-dirty` when tracked files
 * differ from it), the CPU model, cores and load average. Both benches print it with their results.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export interface RunInfo {
  /** `git rev-parse --short HEAD`, plus `-dirty` when tracked files have uncommitted changes. */
  commit: string;
  cpuModel: string;
  cores: number;
  loadAvg: number[];
  date: string;
  /** the x86 features that matter for ORT's float and int8 kernels, as /proc/cpuinfo names them */
  cpuFlags: string[];
}

/** Flags of interest (AVX2, AVX-512, VNNI, BF16) present in /proc/cpuinfo's first `flags` line. */
export const KERNEL_FLAGS = [
  'avx2',
  'fma',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512_vnni',
  'avx_vnni',
  'avx512_bf16',
];

export function cpuFlags(cpuinfo?: string): string[] {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return [];
    }
  }
  const line = /^flags\s*:(.*)$/m.exec(text)?.[1] ?? '';
  const have = new Set(line.trim().split(/\s+/));
  return KERNEL_FLAGS.filter((f) => have.has(f));
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
    cpuFlags: cpuFlags(),
  };
}

/** "1.47 1.24 1.48" */
export const formatLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

/**
 * The line written under a result in the docs: what was measured, on what, under which load.
 * `loadEnd`: the load average when the run finished (the start's is in `info`).
 */
export function runLine(info: RunInfo, loadEnd: number[]): string {
  return (
    `Measured at commit ${info.commit}, ${info.date.slice(0, 16).replace('T', ' ')} UTC, on ${info.cpuModel} ` +
    `(${info.cores} cores, shared with other work; CPU features ${info.cpuFlags.join(', ') || 'unknown'}); ` +
    `load average ${formatLoad(info.loadAvg)} at the start, ${formatLoad(loadEnd)} at the end.`
  );
}
