import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs (pino) on stdout; `pretty` gives one short human line per entry for local runs. */
export function createLogger(level: string, pretty = false): Logger {
  if (!pretty) return pino({ level, base: { service: 'clawstack' } });
  return pino(
    { level, base: undefined, timestamp: false },
    {
      write(line: string) {
        const { level: lv, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const name = pino.levels.labels[Number(lv)] ?? String(lv);
        const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
        process.stdout.write(`${name.padEnd(5)} ${String(msg ?? '')}${extra}\n`);
      },
    },
  );
}
