/** Messages between the engine (main thread) and its inference threads. */
import type { ExecutionProvider } from '../config.ts';
import type { TensorMap } from '../modalities/types.ts';

export interface SessionSpec {
  key: string;
  path: string;
  /** Dynamic non-batch dims: ORT's memory-pattern cache would grow with every new shape. */
  dynamicShapes: boolean;
}

export type ToThread =
  | { type: 'load'; sessions: SessionSpec[]; provider: ExecutionProvider; intraOpThreads: number }
  | { type: 'run'; id: number; key: string; feeds: TensorMap }
  | { type: 'close' };

export type FromThread =
  | { type: 'loaded'; provider: ExecutionProvider; warnings: string[] }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; outputs: TensorMap; ms: number }
  | { type: 'run-failed'; id: number; message: string }
  | { type: 'closed' };
