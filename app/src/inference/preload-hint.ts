/**
 * The preload hint: the sessions the last start loaded (specs, provider, intra-op threads), kept beside
 * the server's compile cache. The launcher hands it to the first inference thread, which creates those
 * sessions while the main thread is still compiling and evaluating the server; the engine's `load` then
 * takes each one that still fits (same file bytes by sha256, same options; inference/preload.ts) and the
 * thread releases the others. A missing, stale or unreadable hint only costs that head start.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecutionProvider } from '../config.ts';
import type { SessionSpec } from './protocol.ts';

export interface PreloadHint {
  sessions: SessionSpec[];
  provider: ExecutionProvider;
  intraOpThreads: number;
}

/** The hint file for the server bundle whose cache files start with `cachePrefix` in `dir`. */
export const hintFile = (dir: string, cachePrefix: string): string =>
  join(dir, `${cachePrefix}sessions.json`);

/** The hint in `file`, or undefined when there is none or it does not parse as one. */
export function readHint(file: string): PreloadHint | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as PreloadHint;
    return Array.isArray(h.sessions) && typeof h.provider === 'string' && Number.isInteger(h.intraOpThreads)
      ? h
      : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the hint atomically (readable by this user only); a read-only disk only costs the hint. */
export function writeHint(file: string, hint: PreloadHint): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(hint), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    /* no hint next time */
  }
}
