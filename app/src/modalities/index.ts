/**
 * The task catalog: every task module the app knows. A task is served when the manifest has its
 * model(s); sync endpoints, v2 and jobs all look tasks up here.
 */
import { textClassify } from './text/classify.ts';
import type { TaskModule } from './types.ts';

export const TASK_MODULES: TaskModule[] = [textClassify as TaskModule];

export type { TaskModule, InferenceContext, TensorData, TensorMap, RawRequest } from './types.ts';
