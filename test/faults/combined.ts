/**
 * Faults that overlap, under the same load and checked against the same invariants as the single ones:
 * a second thing breaks while the first is still broken, and the heal is what supervisors do on their
 * own — a process that cannot start yet (its Redis or Postgres is down, a model file fails its check) is
 * started again until it comes up (`FaultStack.supervise`), servers come back on the same address.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { breakModel, type Fault, type FaultStack } from './stack.ts';

/**
 * At least `ms`, and until the api's readiness has said 503 (at most 6 s): the second fault comes while the
 * first one is seen, not at a fixed time that a loaded machine's 1 s dependency probe may not have reached.
 * If readiness never says 503, the run's "readiness said 503" invariant fails as before.
 */
async function unhealedFor(stack: FaultStack, ms: number): Promise<void> {
  const deadline = Date.now() + 6000;
  let seen503 = false;
  const start = Date.now();
  while (Date.now() < deadline && (!seen503 || Date.now() - start < ms)) {
    const status = await fetch(`${stack.apiUrl}/v2/health/ready`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.status)
      .catch(() => 0);
    seen503 ||= status === 503;
    await sleep(100);
  }
}

export function combinedFaults(stack: FaultStack, problems: string[]): Fault[] {
  const say = (cond: boolean, what: string) => cond || problems.push(what);
  return [
    {
      name: 'Redis restart while a worker is kill -9ed mid-batch',
      dependency: true,
      inject: async () => {
        await Promise.all([stack.signal('worker', 'SIGKILL'), stack.redis.stop()]);
        await sleep(1500);
        // The worker is restarted at once and comes up while Redis is still starting.
        await Promise.all([stack.supervise('worker'), sleep(500).then(() => stack.startRedis())]);
      },
    },
    {
      name: 'Postgres immediate shutdown, then SIGTERM of the api while it is down',
      dependency: true,
      inject: async () => {
        await stack.crash('postgres', 'SIGQUIT');
        await unhealedFor(stack, 1500); // the api answers 503 meanwhile; now it is told to drain
        const code = await stack.signal('api', 'SIGTERM');
        say(code === 0, `api drained with Postgres down: exit ${code} (want 0)`);
        await Promise.all([stack.supervise('api'), sleep(1500).then(() => stack.startPostgres())]);
      },
    },
    {
      name: 'kill -9 of api, worker and Postgres while Redis is down (killed without a save)',
      dependency: true,
      inject: async () => {
        await stack.crash('redis', 'SIGKILL');
        await unhealedFor(stack, 1500);
        await Promise.all([
          stack.crash('postgres', 'SIGKILL'),
          stack.signal('api', 'SIGKILL'),
          stack.signal('worker', 'SIGKILL'),
        ]);
        // Everything is started again at once, as after a host's reboot.
        await Promise.all([
          stack.startRedis(),
          stack.startPostgres(),
          stack.supervise('api'),
          stack.supervise('worker'),
        ]);
      },
    },
    {
      name: 'model file corrupted and the worker restarted during a Postgres restart',
      dependency: true,
      inject: async () => {
        const [, code] = await Promise.all([stack.postgres.stop(), stack.signal('worker', 'SIGTERM')]);
        say(code === 0, `worker drained with Postgres stopping: exit ${code} (want 0)`);
        const model = breakModel(stack.modelDir, 'corrupt');
        const whileDown = await stack.refusedStart('worker');
        await stack.startPostgres();
        const corrupted = await stack.refusedStart('worker');
        model.restore();
        await stack.supervise('worker');
        say(whileDown !== 'started', 'a worker with a corrupted model started while Postgres was down');
        say(/refusing it/.test(corrupted), `worker with a corrupted model: ${corrupted.slice(0, 300)}`);
      },
    },
  ];
}
