/**
 * AMQP connections. Long-running commands use amqplib's built-in recovery
 * (reconnect with backoff); one-shot commands connect once and fail fast.
 */
import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import os from 'node:os';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { maskUrl, type Logger } from '../logger.js';
import { readTls } from '../tls.js';

/** The options a connection needs: URL and TLS files. */
export interface AmqpSettings {
  amqpUrl: string;
  amqpCa: string;
  amqpCert: string;
  amqpKey: string;
}

function socketOptions(s: AmqpSettings, role: string) {
  const tls = readTls('amqp', { ca: s.amqpCa, cert: s.amqpCert, key: s.amqpKey });
  return { ...clientProperties(role), ...(tls ?? {}) };
}

export type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message, RecoveringChannelModel } from 'amqplib';

function clientProperties(role: string) {
  return { clientProperties: { connection_name: `logship-${role}@${os.hostname()}:${process.pid}`, product: 'logship' } };
}

export function describeConnectError(url: string, err: unknown): LogshipError {
  const msg = errorMessage(err);
  const where = maskUrl(url);
  if (/ACCESS_REFUSED|403/.test(msg)) {
    return new LogshipError(ErrorCodes.AMQP_CONNECT, `RabbitMQ at ${where} refused the login: ${msg}`, {
      hint: 'check the user and password in --amqp-url and that the user may access the vhost',
      cause: err,
    });
  }
  if (/NOT_ALLOWED|530/.test(msg)) {
    return new LogshipError(ErrorCodes.AMQP_CONNECT, `RabbitMQ at ${where} refused access to the vhost: ${msg}`, {
      hint: 'the vhost is the URL path (%2f for "/"); create it or grant the user permissions on it',
      cause: err,
    });
  }
  return new LogshipError(ErrorCodes.AMQP_CONNECT, `cannot connect to RabbitMQ at ${where}: ${msg}`, {
    hint: 'is the broker running and reachable? check --amqp-url (LOGSHIP_AMQP_URL)',
    cause: err,
  });
}

/** One connection, no recovery: for bootstrap, status and other one-shot commands. */
export async function connectOnce(settings: AmqpSettings, role: string): Promise<ChannelModel> {
  const url = settings.amqpUrl;
  const options = socketOptions(settings, role);
  try {
    const conn = await amqp.connect(url, options);
    conn.on('error', () => {
      /* reported through close */
    });
    return conn;
  } catch (err) {
    throw describeConnectError(url, err);
  }
}

export interface RecoveringOptions {
  role: string;
  logger: Logger;
  /** retries before the first connection succeeds; then reconnects forever */
  initialMaxRetries?: number;
}

/**
 * A connection that reconnects by itself (amqplib recovery). Channels must be
 * re-created on every 'connect' event; callers own that.
 */
export async function connectRecovering(settings: AmqpSettings, options: RecoveringOptions): Promise<RecoveringChannelModel> {
  const { logger } = options;
  const url = settings.amqpUrl;
  const conn = await amqp.connect(url, {
    ...socketOptions(settings, options.role),
    recovery: {
      initialDelay: 200,
      maxDelay: 10_000,
      initialMaxRetries: options.initialMaxRetries ?? 4,
      maxRetries: Infinity,
      waitForConnect: false,
    },
  });
  const where = maskUrl(url);
  conn.on('error', (err: Error) => logger.warn({ err: errorMessage(err) }, 'AMQP connection error'));
  conn.on('disconnect', (err: Error) => logger.warn({ err: errorMessage(err), url: where }, 'AMQP connection lost; reconnecting'));
  conn.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
    logger.info({ attempt: info.attempt, delayMs: info.delay, err: errorMessage(info.error) }, 'AMQP reconnect scheduled'),
  );
  let connects = 0;
  conn.on('connect', () => {
    if (connects++ === 0) logger.debug({ url: where }, 'AMQP connected');
    else logger.info({ url: where }, 'AMQP reconnected');
  });
  try {
    await conn.waitForConnect();
  } catch (err) {
    throw describeConnectError(url, err);
  }
  return conn;
}
