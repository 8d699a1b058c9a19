/** Messages between the engine (main thread) and its inference threads. */
import type { ExecutionProvider } from '../config.ts';
import type { TensorMap } from '../modalities/types.ts';
import type { ModelEntry } from '../models/manifest.ts';

export interface SessionSpec {
  key: string;
  path: string;
  /** Dynamic non-batch dims: ORT's memory-pattern cache would grow with every new shape. */
  dynamicShapes: boolean;
  /** The model's manifest entry: the thread builds the model's prepare step from it (prepare.ts). */
  entry: ModelEntry;
}

/** The thread's stage stamps for a traced run (epoch ms: telemetry/stages.ts). */
export interface ThreadStamps {
  threadReceived: number;
  featurized: number;
  run: number;
  posted: number;
}

export type ToThread =
  /** `packByLength`: run prepared batches of models that ignore padding as sub-batches (pack.ts). */
  | {
      type: 'load';
      sessions: SessionSpec[];
      provider: ExecutionProvider;
      intraOpThreads: number;
      packByLength?: boolean;
    }
  /**
   * `feeds`: a collated batch; `inputs`: raw inputs the thread prepares and collates itself.
   * `trace`: stage tracing (telemetry/stages.ts) is on; the thread stamps its part of the batch's requests.
   */
  | { type: 'run'; id: number; key: string; feeds: TensorMap; trace?: boolean }
  | { type: 'run'; id: number; key: string; inputs: unknown[]; trace?: boolean }
  /** One input for the model's sequence step (sequence.ts), which calls the model as often as it needs. */
  | { type: 'run'; id: number; key: string; sequence: unknown; trace?: boolean }
  | { type: 'close' };

export type FromThread =
  /** Sent once, unasked, when onnxruntime-node is loaded (spawn.ts waits for it before terminating). */
  | { type: 'ready'; readyAt: number }
  /**
   * Sent unasked by the first thread for each file of its preload hint once read and hashed (undefined:
   * unreadable); the main thread verifies the manifest with it instead of hashing the file again.
   */
  | { type: 'hashed'; path: string; sha256: string | undefined }
  /** `sessions`: when each session's creation started and ended (epoch ms, telemetry/startup.ts) */
  | {
      type: 'loaded';
      provider: ExecutionProvider;
      warnings: string[];
      sessions: { key: string; startedAt: number; endedAt: number }[];
    }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; outputs: TensorMap; ms: number; stamps?: ThreadStamps }
  | { type: 'run-failed'; id: number; message: string }
  | { type: 'closed' };
