/**
 * Steady load for the fault tests: a few client loops, each sending sync classify requests and job
 * submissions of every priority in turn. Every request has a client timeout, so a request the server
 * never answers is counted as hung instead of stalling the test.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PRIORITIES } from '../../app/src/store/jobs.ts';

/**
 * What counts as a hang. Generous, because the fault run shares a 2-CPU machine with process restarts
 * (each loads the app under tsx) and a 60-job burst: at 10× CPU oversubscription a slow answer took
 * more than 5 s, which is slowness, not a hang. A request stuck on a dead dependency never answers.
 */
export const CLIENT_TIMEOUT_MS = 15_000;

export interface LoadTally {
  /** Jobs the API answered 202 for: each must reach exactly one terminal state. */
  accepted: string[];
  ok: number;
  /** 503 answers, and how many of them carried Retry-After. */
  unavailable: number;
  unavailableWithRetryAfter: number;
  /** Connection refused/reset (the api process was down). */
  refused: number;
  /** Requests the client gave up on after CLIENT_TIMEOUT_MS. */
  hung: number;
  /** Any other status (a 5xx other than 503, an unexpected 4xx), with the first few bodies. */
  unexpected: number;
  samples: string[];
  /** Time of the last successful request. */
  lastOk: number;
}

export function emptyTally(): LoadTally {
  return {
    accepted: [],
    ok: 0,
    unavailable: 0,
    unavailableWithRetryAfter: 0,
    refused: 0,
    hung: 0,
    unexpected: 0,
    samples: [],
    lastOk: 0,
  };
}

/** One request, classified into the tally. */
export async function send(
  url: string,
  key: string,
  path: string,
  body: unknown,
  tally: LoadTally,
): Promise<Response | undefined> {
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') tally.hung++;
    else tally.refused++;
    return undefined;
  }
  const text = await res.text().catch(() => '');
  if (res.status === 200 || res.status === 202) {
    tally.ok++;
    tally.lastOk = Date.now();
  } else if (res.status === 503) {
    tally.unavailable++;
    if (res.headers.get('retry-after')) tally.unavailableWithRetryAfter++;
  } else {
    tally.unexpected++;
    if (tally.samples.length < 5) tally.samples.push(`${res.status} ${path}: ${text.slice(0, 200)}`);
  }
  if (res.status === 202) tally.accepted.push((JSON.parse(text) as { id: string }).id);
  return res;
}

export function submitJob(url: string, key: string, tally: LoadTally, i: number) {
  const priority = PRIORITIES[i % PRIORITIES.length]!;
  return send(
    url,
    key,
    '/v1/jobs',
    { task: 'text.classify', input: { text: `job ${i} ${Math.random()}` }, priority },
    tally,
  );
}

/** Runs `clients` loops until stopped; each loop alternates a sync request and a job. */
export function startLoad(url: string, key: string, clients = 3, pauseMs = 25) {
  const tally = emptyTally();
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const i = n++;
      if (i % 2 === 0)
        await send(url, key, '/v1/text/classify', { text: `sync ${i} ${Math.random()}` }, tally);
      else await submitJob(url, key, tally, i);
      await sleep(pauseMs);
    }
  });
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
      return tally;
    },
  };
}
