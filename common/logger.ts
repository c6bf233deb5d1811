import pino from 'pino';
import type { Logger } from 'pino';
import type { LoggingSettings } from './config';

export type { Logger };

/** pino, pretty on a TTY and JSON otherwise (for log shippers) or when the format is `json`. */
export function createLogger(name: string, settings: LoggingSettings): Logger {
  const pretty = process.stdout.isTTY && settings.format !== 'json';
  return pino({
    name,
    level: settings.level,
    redact: {
      paths: ['*.authorization', '*.secretAccessKey', '*.token', 'req.headers.authorization'],
      censor: '[redacted]',
    },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  });
}
