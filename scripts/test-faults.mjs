// npm run test:faults: the fault suite, with the same runner arguments as npm test.
import { spawnSync } from 'node:child_process';
import { testRunnerArgs } from './test-args.mjs';

const r = spawnSync(process.execPath, testRunnerArgs(['test/faults/faults.run.ts']), { stdio: 'inherit' });
process.exit(r.status ?? 1);
