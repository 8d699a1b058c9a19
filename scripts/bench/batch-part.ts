/**
 * `npm run bench:serve -- --only=batch [--baseline=DIR] [--rounds=N]`: the batch path (POST
 * /v1/text/classify with {"texts": [32 texts]}, 4 connections) beside raw featurize + one padded
 * session.run at batch 32 in this process (the plain approach: no packing by length), in N interleaved
 * rounds (raw, this build, this build with PACK_BY_LENGTH=false, baseline, raw, …) so that load from
 * other work hits each alike. With
 * `profile` in --only too, one more run of this build under `node --cpu-prof` (not a measured run).
 */
import { loadavg } from 'node:os';
import type { BenchEnv } from './clawstack.ts';
import { startServer, type ServerSettings } from './clawstack.ts';
import { loadModel } from './inputs.ts';
import { measure, type LoadResult } from './load.ts';
import { createSession, rawBatched } from './raw.ts';

/** Texts per request and connections of the batch path (as bench:serve's full run measures it). */
export const BATCH_TEXTS = 32;
export const BATCH_CONNECTIONS = 4;

/** Request bodies of BATCH_TEXTS texts each, rotating through all of `texts`. */
export function batchBodies(texts: string[], perRequest = BATCH_TEXTS): string[] {
  return Array.from({ length: Math.ceil(texts.length / perRequest) }, (_, i) =>
    JSON.stringify({
      texts: Array.from({ length: perRequest }, (_, k) => texts[(i * perRequest + k) % texts.length]),
    }),
  );
}

export interface BatchPartOptions {
  rounds: number;
  warmupSeconds: number;
  seconds: number;
  baselineDir?: string;
  settings?: ServerSettings;
}

/** A server to measure: another bundle (`dir`) and/or other settings. */
interface Build {
  label: string;
  dir?: string;
  settings?: ServerSettings;
}

const load1 = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function batchLoad(
  env: BenchEnv,
  bodies: string[],
  probe: string,
  o: BatchPartOptions,
  build: Build,
): Promise<LoadResult> {
  const s = await startServer(env, { ...o.settings, ...build.settings }, probe, { bundleDir: build.dir });
  try {
    return await measure(s.url, s.child.pid, bodies, env.apiKey, BATCH_CONNECTIONS, o);
  } finally {
    await s.child.stop();
  }
}

/** One line per measured window: texts/s, the ratio to the round's raw row, latency, server CPU, load average. */
export async function batchPart(env: BenchEnv, texts: string[], o: BatchPartOptions): Promise<string[]> {
  const bodies = batchBodies(texts);
  const model = loadModel();
  const session = await createSession(model, 1);
  const out: string[] = [
    `(batch) ${BATCH_TEXTS} texts per request, ${BATCH_CONNECTIONS} connections, ${o.seconds} s windows after ${o.warmupSeconds} s warm-up; raw = featurize + one padded session.run, batch ${BATCH_TEXTS}, intra-op 1, this process`,
  ];
  const builds: Build[] = [
    { label: 'this build' },
    { label: 'this build, PACK_BY_LENGTH=false', settings: { PACK_BY_LENGTH: false } },
  ];
  if (o.baselineDir) builds.push({ label: `baseline ${o.baselineDir}`, dir: o.baselineDir });
  for (let round = 1; round <= o.rounds; round++) {
    const raw = await rawBatched(session, model, texts, { batch: BATCH_TEXTS, seconds: 2 * o.seconds });
    out.push(
      `round ${round}: raw featurize + run ${Math.round(raw.totalItemsPerSec)} texts/s (model only ${Math.round(raw.runItemsPerSec)}), load ${load1()}`,
    );
    for (const build of builds) {
      const r = await batchLoad(env, bodies, texts[0]!, o, build);
      const items = r.rps * BATCH_TEXTS;
      out.push(
        `  ${build.label}: ${Math.round(items)} texts/s = ${(items / raw.totalItemsPerSec).toFixed(2)} × raw, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, server ${r.serverCores.toFixed(2)} cores = ${Math.round(items / r.serverCores)} texts per server CPU-second, non-2xx ${r.non2xx}, load ${load1()}`,
      );
    }
  }
  await session.release();
  return out;
}
