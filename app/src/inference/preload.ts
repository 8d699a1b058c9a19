/**
 * Thread side of the preload hint (preload-hint.ts): sessions created before the engine asks for them,
 * and taken by its `load` only when they fit exactly. A preloaded session is created from the file's
 * bytes, whose sha256 is kept: `load` takes it only when that matches the manifest's sha256 the registry
 * verified, so a file changed since the hint was written is never served.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import type { ExecutionProvider } from '../config.ts';
import type { PreloadHint } from './preload-hint.ts';
import type { SessionSpec } from './protocol.ts';
import { epochMs } from '../telemetry/startup.ts';

/** The options every session of the engine is created with. */
export function sessionOptions(
  spec: SessionSpec,
  provider: ExecutionProvider,
  intraOpThreads: number,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableMemPattern: !spec.dynamicShapes,
    // Failures reach the caller as errors (and our logs); ORT's own stderr lines would only duplicate them.
    logSeverityLevel: 4,
  };
}

/** What a preloaded session was created from. */
export interface PreloadedFrom {
  path: string;
  sha256: string;
  dynamicShapes: boolean;
  provider: ExecutionProvider;
  intraOpThreads: number;
}

/** Pure: whether a session preloaded from `from` is the one `load` would create for `spec`. */
export function fits(
  from: PreloadedFrom,
  spec: SessionSpec,
  provider: ExecutionProvider,
  intraOpThreads: number,
): boolean {
  return (
    from.path === spec.path &&
    from.sha256 === spec.entry.sha256 &&
    from.dynamicShapes === spec.dynamicShapes &&
    from.provider === provider &&
    from.intraOpThreads === intraOpThreads
  );
}

interface Preloaded {
  from: PreloadedFrom;
  /** when its creation started and ended (epoch ms) */
  startedAt: number;
  endedAt: number;
  /** undefined when creating it failed (load then creates it as usual) */
  session: Promise<ort.InferenceSession | undefined>;
}

/** Sessions created from a hint, one after the other, by key. */
export class Preloads {
  private readonly byKey = new Map<string, Preloaded>();

  constructor(hint: PreloadHint | undefined) {
    let previous: Promise<unknown> = Promise.resolve();
    for (const spec of hint?.sessions ?? []) {
      const { provider, intraOpThreads } = hint!;
      const from = {
        path: spec.path,
        dynamicShapes: spec.dynamicShapes,
        sha256: '',
        provider,
        intraOpThreads,
      };
      const p: Preloaded = { from, startedAt: 0, endedAt: 0, session: Promise.resolve(undefined) };
      p.session = previous.then(async () => {
        p.startedAt = epochMs();
        try {
          const bytes = await readFile(spec.path);
          from.sha256 = createHash('sha256').update(bytes).digest('hex');
          return await ort.InferenceSession.create(bytes, sessionOptions(spec, provider, intraOpThreads));
        } catch {
          return undefined;
        } finally {
          p.endedAt = epochMs();
        }
      });
      previous = p.session;
      this.byKey.set(spec.key, p);
    }
  }

  /**
   * The preloaded session for `spec` if it fits (it is the caller's from now on) and when it was
   * created, else undefined.
   */
  async take(
    spec: SessionSpec,
    provider: ExecutionProvider,
    intraOpThreads: number,
  ): Promise<{ session: ort.InferenceSession; startedAt: number; endedAt: number } | undefined> {
    const p = this.byKey.get(spec.key);
    if (!p) return undefined;
    const session = await p.session;
    if (!session || !fits(p.from, spec, provider, intraOpThreads)) return undefined;
    this.byKey.delete(spec.key);
    return { session, startedAt: p.startedAt, endedAt: p.endedAt };
  }

  /** Releases every session nobody took. */
  async releaseRest(): Promise<void> {
    const rest = [...this.byKey.values()];
    this.byKey.clear();
    for (const p of rest) await (await p.session)?.release().catch(() => {});
  }
}
