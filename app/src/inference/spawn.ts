/**
 * Starting and stopping an inference thread's worker, apart from the engine so that the bundle's
 * launcher (launch.ts) can start the first one before the server is even compiled.
 *
 * A thread says `ready` once onnxruntime-node is loaded (thread.ts, after its imports). Terminating a
 * thread that is still loading onnxruntime-node can abort the whole process (SIGABRT from native code,
 * seen under heavy load when a worker refused a model), so `stopThread` waits for that first.
 */
import { Worker } from 'node:worker_threads';
import type { FromThread, ToThread } from './protocol.ts';
import type { PreloadHint } from './preload-hint.ts';
import { epochMs, recordPhase } from '../telemetry/startup.ts';

export interface SpawnedThread {
  worker: Worker;
  /** Settles when onnxruntime-node is loaded in the thread, or the thread failed or exited first. */
  loaded: Promise<void>;
  state: 'loading' | 'ready' | 'failed';
  /** The thread's error before anyone else listened for it. */
  error?: Error;
  /** Where the engine saves the sessions it loaded, for the next start (preload-hint.ts). */
  hintFile?: string;
}

/** How long stopThread waits for a loading thread before it terminates it anyway. */
export const LOAD_WAIT_MS = 10_000;

export function spawnThread(entry: URL, preload?: PreloadHint): SpawnedThread {
  const spawnedAt = epochMs();
  const worker = new Worker(entry, { workerData: { preload } });
  let settle!: () => void;
  const t: SpawnedThread = { worker, state: 'loading', loaded: new Promise((r) => (settle = r)) };
  const onMessage = (msg: FromThread) => {
    if (msg?.type !== 'ready') return;
    recordPhase(
      'inference thread: boot, load onnxruntime-node',
      spawnedAt,
      msg.readyAt,
      `inference-${worker.threadId}`,
    );
    t.state = 'ready';
    worker.off('message', onMessage);
    settle();
  };
  worker.on('message', onMessage);
  // Kept for good: without a listener, a Worker's 'error' event would throw on the main thread.
  worker.on('error', (err) => {
    t.error ??= err;
    if (t.state === 'loading') t.state = 'failed';
    settle();
  });
  worker.once('exit', () => {
    if (t.state === 'loading') t.state = 'failed';
    settle();
  });
  worker.unref();
  return t;
}

/**
 * Waits (up to `loadWaitMs`) for the thread to finish loading onnxruntime-node, then asks it to close
 * (it releases its sessions, preloaded ones once created, and answers `closed`; up to `loadWaitMs`
 * again), then terminates it. Resolves with whether the thread was still loading when it was terminated.
 */
export async function stopThread(t: SpawnedThread, loadWaitMs = LOAD_WAIT_MS): Promise<boolean> {
  await within(t.loaded, loadWaitMs);
  const stillLoading = t.state === 'loading';
  if (t.state === 'ready') await within(closed(t.worker), loadWaitMs);
  await t.worker.terminate();
  return stillLoading;
}

/** Sends `close` to a thread; settles on its `closed` answer, or when it fails or exits. */
function closed(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      worker.off('message', onMessage);
      worker.off('error', done);
      worker.off('exit', done);
      resolve();
    };
    const onMessage = (msg: FromThread) => {
      if (msg?.type === 'closed') done();
    };
    worker.on('message', onMessage);
    worker.once('error', done);
    worker.once('exit', done);
    worker.postMessage({ type: 'close' } satisfies ToThread);
  });
}

/** `p`, or nothing after `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

// The launcher (dist/main.js) and the server (dist/server.cjs) are separate bundles with their own copy
// of this module: the thread started early is handed over through a global registry symbol.
const PRESPAWNED = Symbol.for('clawstack.inference.prespawned');
type Holder = { [PRESPAWNED]?: SpawnedThread };

/**
 * Starts the first inference thread now, with the last start's sessions to create at once when there
 * is a hint in `hintFile`; the engine takes it over (takePrespawned) and saves its sessions there.
 */
export function prespawn(entry: URL, hint?: { file: string; preload?: PreloadHint }): void {
  const t = spawnThread(entry, hint?.preload);
  t.hintFile = hint?.file;
  (globalThis as Holder)[PRESPAWNED] = t;
  collectHashes(t.worker, hint?.preload?.sessions.map((s) => s.path) ?? []);
}

// The sha256 of each preload-hint file, as the prespawned thread read it (preload.ts), by path.
const PREHASHED = Symbol.for('clawstack.inference.prehashed');
type HashHolder = { [PREHASHED]?: Map<string, Promise<string | undefined>> };

/** Listens for the thread's `hashed` messages about `paths`; a thread that fails or exits answers none. */
function collectHashes(worker: Worker, paths: string[]): void {
  const settle = new Map<string, (sha256: string | undefined) => void>();
  const hashes = new Map<string, Promise<string | undefined>>();
  for (const path of paths)
    if (typeof path === 'string' && !hashes.has(path))
      hashes.set(path, new Promise((r) => settle.set(path, r)));
  (globalThis as HashHolder)[PREHASHED] = hashes;
  if (settle.size === 0) return;
  const done = () => {
    for (const r of settle.values()) r(undefined);
    settle.clear();
    worker.off('message', onMessage);
  };
  const onMessage = (msg: FromThread) => {
    if (msg?.type !== 'hashed') return;
    settle.get(msg.path)?.(msg.sha256);
    settle.delete(msg.path);
    if (settle.size === 0) done();
  };
  worker.on('message', onMessage);
  worker.once('error', done);
  worker.once('exit', done);
}

/**
 * The sha256 of `path` as the thread started by prespawn read it from its preload hint (it created that
 * file's session from those very bytes), or undefined when that thread does not hash this file or could
 * not read it: the caller then hashes it itself. Each answer is given once.
 */
export function prehashed(path: string): Promise<string | undefined> | undefined {
  const hashes = (globalThis as HashHolder)[PREHASHED];
  const sha256 = hashes?.get(path);
  hashes?.delete(path);
  return sha256;
}

/** The thread started by prespawn, if any and not failed; it is the caller's from now on. */
export function takePrespawned(): SpawnedThread | undefined {
  const holder = globalThis as Holder;
  const t = holder[PRESPAWNED];
  delete holder[PRESPAWNED];
  if (t?.state === 'failed') {
    void t.worker.terminate();
    return undefined;
  }
  return t;
}

/** Stops a thread started by prespawn that nobody took over (the process exits before serving). */
export async function releasePrespawned(loadWaitMs = LOAD_WAIT_MS): Promise<void> {
  const t = takePrespawned();
  if (t) await stopThread(t, loadWaitMs);
}
