/**
 * Offline plan: what `pulumi up` would create for a stack, without cloud credentials or the
 * Pulumi CLI. Runs infra/index.ts under Pulumi's mocks with the stack file's config.
 *
 *   npm run plan -- --stack dev
 *   npm run plan -- --stack dev --set tier=gpu --set capacity=on-demand
 *   npm run plan -- --stack staging --compare tier=gpu
 *   npm run plan -- --stack prod --json
 */
import { planCommand } from './plan/cli.ts';

// Exit once stdout is flushed (a large --json plan written to a pipe would otherwise be cut off).
planCommand(process.argv.slice(2)).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    console.error(`offline plan: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
