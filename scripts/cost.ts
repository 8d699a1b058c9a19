/**
 * Actual spend from AWS Cost Explorer, by service and by the stack/tier tags.
 *
 *   npm run cost -- --days 30
 *   npm run cost -- --days 7 --stack prod
 */
import { costCommand } from './cost/explorer.ts';

costCommand(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`cost report: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
