/**
 * MONITOR for tests: resolves at the next command named `name` that Redis runs for any client.
 *
 * Not ioredis's `monitor()`: its connection sends MONITOR and sets its 'monitoring' status only in a
 * promise callback, so the command lines Redis sends in the same packet as MONITOR's "OK" reach an empty
 * command queue first; each is emitted as an 'error' ("Command queue state error … Last reply: <the
 * monitored command>"), the first to monitor()'s own once-listener and the rest to no listener at all,
 * which throws it as an uncaught exception (taskforcesh/bullmq#2505 shows the same with a busy BullMQ
 * connection). Here the connection has its listener before it connects: those lines are dropped (the
 * next matching command is waited for instead) and any other error fails the wait.
 */
import { Redis } from 'ioredis';

const MONITOR_RACE = /^Command queue state error/;

export async function nextCommand(redisUrl: string, name: string): Promise<number> {
  const monitor = new Redis(redisUrl, { monitor: true, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    return await new Promise<number>((resolve, reject) => {
      monitor.on('error', (err: Error) => {
        if (!MONITOR_RACE.test(err.message)) reject(err);
      });
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (String(args[0]).toLowerCase() === name) resolve(Date.now());
      });
      monitor.connect().catch(reject);
    });
  } finally {
    monitor.disconnect();
  }
}
