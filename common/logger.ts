import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** pino, pretty on a TTY and JSON otherwise (for log shippers). */
export function createLogger(name: string, level = process.env.HOLDFAST_LOG_LEVEL ?? 'info'): Logger {
  const pretty = process.stdout.isTTY && process.env.HOLDFAST_LOG_FORMAT !== 'json';
  return pino({
    name,
    level,
    redact: { paths: ['*.authorization', '*.secretAccessKey', '*.token', 'req.headers.authorization'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}
