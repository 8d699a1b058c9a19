import pino, { type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

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

/** Pretty when asked (`LOG_PRETTY`), otherwise when a person is watching: stdout is a terminal. */
export function wantsPrettyLogs(configured: boolean | undefined, stdoutIsTTY: boolean | undefined): boolean {
  return configured ?? stdoutIsTTY === true;
}

interface EventFields {
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  err?: { type?: string; message?: string; stack?: string };
}

/**
 * The message part of a pretty line. pino-http's entries read as `GET /v1/jobs 202 3 ms`; an error
 * reads as its type, message and innermost frame on the same line (JSON mode keeps the whole stack).
 */
export function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const { req, res, responseTime, err } = log as EventFields;
  let msg = String(log[messageKey] ?? '');
  if (req?.method && res?.statusCode !== undefined) {
    const took = responseTime === undefined ? '' : ` ${Math.round(responseTime)} ms`;
    msg = `${req.method} ${req.url ?? ''} ${res.statusCode}${took}`;
  }
  if (err && typeof err === 'object') {
    const frame = /^\s*at (.+)$/m.exec(err.stack ?? '')?.[1];
    const text = `${err.type ?? 'Error'}: ${err.message ?? ''}`.replace(/\s*\n\s*/g, ' ');
    msg += ` (${text}${frame ? ` at ${frame}` : ''})`;
  }
  return msg;
}

/**
 * JSON logs (pino) on stdout, one object per line, for machines. `pretty` gives one coloured,
 * human-readable line per event (pino-pretty, synchronous so nothing is lost at exit).
 * `destination` is for tests.
 */
export function createLogger(level: string, pretty = false, destination?: DestinationStream): Logger {
  if (!pretty) {
    return pino(
      { level, base: { service: 'clawstack' }, redact: REDACT },
      destination ?? pino.destination(1),
    );
  }
  const stream = PinoPretty({
    colorize: destination === undefined && process.stdout.isTTY === true,
    singleLine: true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,req,res,responseTime,err',
    messageFormat: prettyMessage,
    ...(destination ? { destination } : {}),
  });
  return pino({ level, base: undefined, redact: REDACT }, stream);
}
