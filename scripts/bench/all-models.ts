/**
 * bench:serve's all-models load (the MODELS='' row, and `--only=mixed`): text at c=64 on
 * POST /v1/text/classify with OCR and speech requests running at the same time, after OCR and speech
 * alone on the same server, so that a model starving behind another shows as responses that never come.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from './clawstack.ts';
import { runLoad, type LoadResult } from './load.ts';

export interface AllModelsWindows {
  warmupSeconds: number;
  seconds: number;
  textConnections: number;
  /** connections of OCR and of speech each */
  otherConnections: number;
}

export interface AllModelsLoad {
  c64: LoadResult;
  ocr: LoadResult;
  speech: LoadResult;
  ocrAlone: LoadResult;
  speechAlone: LoadResult;
}

export async function allModelsLoad(
  server: Server,
  bodies: string[],
  key: string,
  w: AllModelsWindows,
): Promise<AllModelsLoad> {
  const base = (path: string, payload: (string | Buffer)[], type: string, connections: number) => ({
    url: server.url,
    path,
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    bodies: payload,
    serverPid: server.child.pid,
    connections,
  });
  const fixture = (file: string) => [readFileSync(join('test/fixtures', file))];
  const ocrSpec = base('/v1/image/ocr', fixture('image/ocr-sans.png'), 'image/png', w.otherConnections);
  const speechSpec = base(
    '/v1/speech/detect',
    fixture('speech/speech-16k-mono-s16.wav'),
    'audio/wav',
    w.otherConnections,
  );
  const textSpec = base('/v1/text/classify', bodies, 'application/json', w.textConnections);
  await Promise.all([ocrSpec, speechSpec, textSpec].map((s) => runLoad({ ...s, seconds: w.warmupSeconds })));
  const ocrAlone = await runLoad({ ...ocrSpec, seconds: w.seconds });
  const speechAlone = await runLoad({ ...speechSpec, seconds: w.seconds });
  const [c64, ocr, speech] = await Promise.all(
    [textSpec, ocrSpec, speechSpec].map((s) => runLoad({ ...s, seconds: w.seconds })),
  );
  // An OCR request can outlast a short (quick) window on a loaded machine: in flight is fine, refused is not.
  for (const [name, r] of [
    ['OCR', ocr!],
    ['speech', speech!],
  ] as const)
    if (r.non2xx > 0)
      throw new Error(
        `${name}: ${r.non2xx} non-2xx responses ${JSON.stringify(r.status)}\n${server.child.output()}`,
      );
  return { c64: c64!, ocr: ocr!, speech: speech!, ocrAlone, speechAlone };
}
