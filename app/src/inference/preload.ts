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

/**
 * Reads and hashes each file, one after the other, calling `onHashed` for each (sha256 undefined: the
 * file cannot be read); resolves with the bytes by path.
 */
async function readAndHash(
  paths: string[],
  onHashed: (path: string, sha256: string | undefined) => void,
): Promise<Map<string, { bytes: Buffer; sha256: string }>> {
  const files = new Map<string, { bytes: Buffer; sha256: string }>();
  for (const path of new Set(paths)) {
    let sha256: string | undefined;
    try {
      const bytes = await readFile(path);
      sha256 = createHash('sha256').update(bytes).digest('hex');
      files.set(path, { bytes, sha256 });
    } catch {
      /* unreadable: no session from it, and the main thread reads it itself */
    }
    onHashed(path, sha256);
  }
  return files;
}

/**
 * Sessions created from a hint, one after the other, by key. Every file is read and hashed before the
 * first session is created, so that the main thread, which verifies the manifest with these hashes
 * (`onHashed`; spawn.ts `prehashed`), gets them all early instead of hashing the files itself.
 */
export class Preloads {
  private readonly byKey = new Map<string, Preloaded>();

  constructor(
    hint: PreloadHint | undefined,
    onHashed: (path: string, sha256: string | undefined) => void = () => {},
  ) {
    const specs = hint?.sessions ?? [];
    const files = readAndHash(
      specs.map((s) => s.path),
      onHashed,
    );
    let previous: Promise<unknown> = files.catch(() => undefined);
    for (const spec of specs) {
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
          const all = await files;
          const file = all.get(spec.path);
          if (!file) return undefined;
          all.delete(spec.path); // the session holds what it needs; the bytes can go
          from.sha256 = file.sha256;
          return await ort.InferenceSession.create(
            file.bytes,
            sessionOptions(spec, provider, intraOpThreads),
          );
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
