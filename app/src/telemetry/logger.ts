import pino, { type Logger } from 'pino';

export type { Logger };

/** Defence in depth: API keys and passwords never reach a log line, whoever logs a request or a URL. */
const REDACT = {
  paths: [
    'req.headers.authorization',
    'req.headers["x-api-key"]',
    'headers.authorization',
    'headers["x-api-key"]',
    'password',
    '*.password',
  ],
  censor: '[redacted]',
};

/** JSON logs (pino) on stdout; `pretty` gives one short human line per entry for local runs. */
export function createLogger(level: string, pretty = false): Logger {
  if (!pretty) return pino({ level, base: { service: 'clawstack' }, redact: REDACT });
  return pino(
    { level, base: undefined, timestamp: false, redact: REDACT },
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
