/** JSON log lines on stderr (pino). Secrets are redacted and URLs masked. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = ['password', 'esPassword', 'esApiKey', 'apiKey', '*.password', '*.esPassword', '*.esApiKey', '*.apiKey', 'headers.authorization'];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'logship',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '***' },
      base: { pid: process.pid },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** amqp://user:secret@host/vhost -> amqp://user:***@host/vhost */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}
