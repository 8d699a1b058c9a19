/**
 * Load generation with autocannon. Latencies come from autocannon's per-response `response` event
 * (float milliseconds from process.hrtime), not from its histogram, whose 1 ms resolution is too coarse
 * for sub-millisecond requests. Bodies rotate through the held-out messages via `setupRequest`.
 * The bench process's own CPU use is measured, since the load generator shares the machine's cores.
 */
import autocannon from 'autocannon';
import { cpuSeconds } from './procs.ts';
import { summarize } from './stats.ts';

export interface LoadResult {
  connections: number;
  seconds: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** 2xx responses per second. */
  rps: number;
  /** autocannon's per-second samples of completed responses (any status): slowest and fastest second */
  rpsMin?: number;
  rpsMax?: number;
  p50: number;
  p99: number;
  /** CPU cores used on average by the server process (all its threads) and by the bench process (autocannon). */
  serverCores: number;
  loadgenCores: number;
  status: Record<string, number>;
}

export interface LoadSpec {
  url: string;
  path: string;
  /** JSON unless headers say otherwise (e.g. image/png with Buffer bodies). */
  headers?: Record<string, string>;
  bodies: (string | Buffer)[];
  connections: number;
  seconds?: number;
  amount?: number;
  /** pid of the server, to measure its CPU use. */
  serverPid?: number;
  /** Requests per second across all connections (a fixed rate instead of as fast as possible). */
  overallRate?: number;
  /** Every response as it arrives (the soak buckets them over time). */
  onResponse?: (statusCode: number, ms: number) => void;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  let i = 0;
  const latencies: number[] = [];
  const server0 = spec.serverPid ? cpuSeconds(spec.serverPid) : 0;
  const self0 = process.cpuUsage();
  const wall0 = performance.now();
  let done!: (r: autocannon.Result) => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<autocannon.Result>((res, rej) => {
    done = res;
    fail = rej;
  });
  const instance = autocannon(
    {
      url: spec.url,
      connections: spec.connections,
      pipelining: 1,
      ...(spec.amount ? { amount: spec.amount } : { duration: spec.seconds ?? 5 }),
      timeout: 30,
      ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
      requests: [
        {
          method: 'POST',
          path: spec.path,
          headers: { 'content-type': 'application/json', ...spec.headers },
          setupRequest: (req) => ({ ...req, body: spec.bodies[i++ % spec.bodies.length]! }),
        },
      ],
    },
    (err, r) => (err ? fail(err as Error) : done(r)),
  );
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    spec.onResponse?.(statusCode, responseTime);
  });
  const result = await finished;
  const wall = (performance.now() - wall0) / 1000;
  const self = process.cpuUsage(self0);
  const server1 = spec.serverPid ? cpuSeconds(spec.serverPid) : 0;
  const s = summarize(latencies);
  const status: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) status[code] = v.count ?? 0;
  return {
    connections: spec.connections,
    seconds: result.duration,
    ok: latencies.length,
    non2xx: result.non2xx,
    errors: result.errors,
    rps: latencies.length / result.duration,
    rpsMin: result.requests.min,
    rpsMax: result.requests.max,
    p50: s.p50,
    p99: s.p99,
    serverCores: spec.serverPid ? (server1 - server0) / wall : NaN,
    loadgenCores: (self.user + self.system) / 1e6 / wall,
    status,
  };
}

/** A warm-up window (discarded), then the measured one, of POST /v1/text/classify. */
export async function measure(
  url: string,
  pid: number,
  bodies: string[],
  key: string,
  connections: number,
  o: { warmupSeconds: number; seconds: number },
): Promise<LoadResult> {
  const spec = {
    url,
    path: '/v1/text/classify',
    headers: key ? { authorization: `Bearer ${key}` } : undefined,
    bodies,
    serverPid: pid,
    connections,
  };
  await runLoad({ ...spec, seconds: o.warmupSeconds });
  return runLoad({ ...spec, seconds: o.seconds });
}
