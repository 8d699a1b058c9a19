/** Polling for tests: the value `fn` resolves to once it is not undefined, or an error after `ms`. */
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
