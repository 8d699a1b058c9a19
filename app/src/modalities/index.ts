/**
 * The task catalog: every task module the app knows. A task is served when the manifest has its
 * model(s); sync endpoints, v2 and jobs all look tasks up here. Adding a task = one module + its
 * manifest line(s) + one entry below.
 */
import { debugEcho } from './debug/echo.ts';
import { imageOcr } from './image/ocr.ts';
import { speechDetect } from './speech/detect.ts';
import { textClassify } from './text/classify.ts';
import type { TaskModule } from './types.ts';

export const TASK_MODULES: TaskModule[] = [
  textClassify as TaskModule,
  speechDetect as TaskModule,
  imageOcr as TaskModule,
  debugEcho as TaskModule,
];

/** The tasks this process may serve: every module, but `debug.echo` only when ECHO_TASK is on. */
export function servedModules(opts: { echoTask: boolean }): TaskModule[] {
  return TASK_MODULES.filter((m) => opts.echoTask || m !== (debugEcho as TaskModule));
}

export type { TaskModule, InferenceContext, TensorData, TensorMap, RawRequest } from './types.ts';
