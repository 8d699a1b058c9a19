/**
 * Child processes of the bench and their clean-up: every child and service registers a stop function,
 * and `cleanup()` runs them all (also on SIGINT/SIGTERM and on an uncaught error), so a failed bench
 * leaves nothing running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

type Stopper = () => Promise<void>;
const stoppers = new Set<Stopper>();

export function onCleanup(stop: Stopper): () => void {
  stoppers.add(stop);
  return () => {
    stoppers.delete(stop);
  };
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const stop of [...stoppers].reverse()) {
      stoppers.delete(stop);
      await stop().catch((err: Error) => process.stderr.write(`clean-up: ${err.message}\n`));
    }
    cleaning = undefined;
  })());
}

export function installSignalCleanup(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every child process the bench started…\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, label: string): Child {
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((res) => {
    if (proc.exitCode !== null || proc.signalCode !== null) res(proc.exitCode);
    else proc.once('exit', (code) => res(code));
  });
  if (proc.pid === undefined) throw new Error(`${label}: could not spawn ${cmd}`);
  const pid = proc.pid;
  let unregister: () => void = () => {};
  const stop = async (graceMs = 10_000) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
      if (timedOut) {
        process.stderr.write(`${label} (pid ${pid}) did not exit after SIGTERM; SIGKILL\n`);
        proc.kill('SIGKILL');
        await exited;
      }
    }
    unregister();
  };
  unregister = onCleanup(() => stop(3000));
  return { proc, pid, output: () => out, exited, stop };
}

/** Peak resident set size (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Current resident set size (VmRSS) of a live process, in MB. */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const CLK_TCK = 100; // Linux USER_HZ

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** User and system CPU seconds of each thread of `pid` (by thread id; the main thread's id is `pid`). */
export function threadCpuSeconds(pid: number): Map<number, { user: number; sys: number }> {
  const out = new Map<number, { user: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/**
 * Starts the naive Express server (scripts/bench/naive-server.ts) on `port` and waits until it listens.
 * `env`: e.g. STAGE_TRACE_FILE (the naive server stamps its stages as clawstack does). */
export async function startNaiveServer(port: number, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const child = startChild(
    process.execPath,
    ['--import', 'tsx', 'scripts/bench/naive-server.ts'],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      ORT_INTRA_OP_THREADS: '1',
      ...env,
    },
    'naive server',
  );
  const deadline = Date.now() + 30_000;
  while (!/listening \d+/.test(child.output())) {
    if (Date.now() > deadline || child.proc.exitCode !== null)
      throw new Error(`naive server did not start:\n${child.output()}`);
    await sleep(20);
  }
  return child;
}
