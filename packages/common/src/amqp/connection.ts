/**
 * AMQP connections. Long-running commands use amqplib's built-in recovery
 * (reconnect with backoff); one-shot commands connect once and fail fast.
 */
import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import os from 'node:os';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { maskUrl, safeDecode, scrubSecrets, splitUrl, splitUrlList, type Logger } from '../logger.js';
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

/**
 * The vhost and user a URL asks for, as amqplib reads them (empty path: "/", no
 * user: guest), taken apart by the masking rule so that no piece of a password
 * can end up in the vhost. For a list, the first URL.
 */
export function vhostAndUser(url: string): { vhost: string; user: string } {
  const { scheme, user, password, tail } = splitUrl(splitUrlList(url)[0] ?? url);
  let vhost = '?';
  try {
    const path = new URL(`${scheme.trim() || 'amqp://'}${tail}`).pathname.slice(1);
    vhost = path ? decodeURIComponent(path) : '/';
  } catch {
    // not a URL: the message still names the user
  }
  return { vhost, user: user === undefined && password === undefined ? 'guest' : safeDecode(user ?? '') };
}

/**
 * Every message and hint masks the credentials: the library's message is
 * scrubbed (it may quote the URL or a piece of a mis-parsed password); the rest
 * is built from the masked URL, the user and the vhost, none of which can hold
 * a piece of the password (so a user named like the password stays readable).
 */
export function describeConnectError(url: string, err: unknown): LogshipError {
  const msg = scrubSecrets(errorMessage(err), [url]);
  const where = maskUrl(url);
  const fail = (message: string, hint: string) => new LogshipError(ErrorCodes.AMQP_CONNECT, message, { hint, cause: err });
  if (/ACCESS_REFUSED|403/.test(msg)) {
    return fail(`RabbitMQ at ${where} refused the login: ${msg}`, 'check the user and password in --amqp-url and that the user may access the vhost');
  }
  // RabbitMQ answers connection.open for an unknown vhost, or one the user has no
  // permission on, with connection.close; amqplib only says "Expected ConnectionOpenOk"
  if (/NOT_ALLOWED|530|Expected ConnectionOpenOk; got <ConnectionClose/.test(msg)) {
    const { vhost, user } = vhostAndUser(url);
    return fail(
      `RabbitMQ at ${where} refused to open vhost "${vhost}": the vhost does not exist or user "${user}" may not use it (broker said: ${msg})`,
      `the vhost is the URL path, percent-encoded (%2f for the default vhost "/"); ` +
        `create it (rabbitmqctl add_vhost "${vhost}") or grant the user access to it (rabbitmqctl set_permissions -p "${vhost}" "${user}" ".*" ".*" ".*")`,
    );
  }
  return fail(`cannot connect to RabbitMQ at ${where}: ${msg}`, 'is the broker running and reachable? check --amqp-url (LOGSHIP_AMQP_URL)');
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
  const reason = (err: unknown) => scrubSecrets(errorMessage(err), [url]);
  conn.on('error', (err: Error) => logger.warn({ err: reason(err) }, 'AMQP connection error'));
  conn.on('disconnect', (err: Error) => logger.warn({ err: reason(err), url: where }, 'AMQP connection lost; reconnecting'));
  conn.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
    logger.info({ attempt: info.attempt, delayMs: info.delay, err: reason(info.error) }, 'AMQP reconnect scheduled'),
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
