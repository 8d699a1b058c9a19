// Entry of an inference thread when the app runs from TypeScript sources (npm start, tests): loads
// thread.ts through tsx. The esbuild bundle uses dist/inference-thread.cjs instead.
import { tsImport } from 'tsx/esm/api';

await tsImport('./thread.ts', import.meta.url);
