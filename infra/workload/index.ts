/** The target-neutral workload model: types, the pure builder, and the app's environment contract. */
export * from './types.ts';
export * from './build.ts';
export * from './app-env.ts';
