/**
 * AMQP connections to one broker or to any node of a cluster (--amqp-url is a
 * comma-separated list). One-shot commands connect once, trying each node,
 * and fail fast; long-running commands use AmqpConnection (amqp-connection.ts),
 * which moves to the next node that answers when it loses the one in use.
 */
import amqp, { type ChannelModel } from 'amqplib';
import os from 'node:os';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { maskUrl, safeDecode, scrubSecrets, splitUrl, splitUrlList } from '../logger.js';
import { readTls } from '../tls.js';
import { amqpNodes, shuffled } from './node-list.js';

/** The options a connection needs: URL and TLS files. */
export interface AmqpSettings {
  amqpUrl: string;
  amqpCa: string;
  amqpCert: string;
  amqpKey: string;
}

/** A node that does not answer a TCP connect within this is skipped (a black-holed host would otherwise hang the attempt for minutes). */
export const CONNECT_TIMEOUT_MS = 10_000;

/** amqplib's socket options for every node: client properties, TLS files, connect timeout. */
export function socketOptions(s: AmqpSettings, role: string) {
  const tls = readTls('amqp', { ca: s.amqpCa, cert: s.amqpCert, key: s.amqpKey });
  return { ...clientProperties(role), ...(tls ?? {}), timeout: CONNECT_TIMEOUT_MS };
}

export type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';

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
  if (isLoginRefusal(msg)) {
    return fail(`RabbitMQ at ${where} refused the login: ${msg}`, 'check the user and password in --amqp-url and that the user may access the vhost');
  }
  // RabbitMQ answers connection.open for an unknown vhost, or one the user has no
  // permission on, with connection.close; amqplib only says "Expected ConnectionOpenOk"
  if (isConfigRefusal(msg)) {
    const { vhost, user } = vhostAndUser(url);
    return fail(
      `RabbitMQ at ${where} refused to open vhost "${vhost}": the vhost does not exist or user "${user}" may not use it (broker said: ${msg})`,
      `the vhost is the URL path, percent-encoded (%2f for the default vhost "/"); ` +
        `create it (rabbitmqctl add_vhost "${vhost}") or grant the user access to it (rabbitmqctl set_permissions -p "${vhost}" "${user}" ".*" ".*" ".*")`,
    );
  }
  return fail(`cannot connect to RabbitMQ at ${where}: ${msg}`, 'is the broker running and reachable? check --amqp-url (LOGSHIP_AMQP_URL)');
}

/** The broker refused the login (wrong user or password): final, and the same on every node of a cluster. */
export function isLoginRefusal(err: unknown): boolean {
  return /ACCESS_REFUSED - |Handshake terminated by server: 403/.test(errorMessage(err));
}

/**
 * A login refusal, or a close during connection.open (an unknown vhost, one the
 * user may not use; amqplib gives no reply code for it, so a node whose vhost
 * is still starting says the same: callers treat it as final only when every
 * node says it).
 */
export function isConfigRefusal(err: unknown): boolean {
  return isLoginRefusal(err) || /NOT_ALLOWED - |Expected ConnectionOpenOk; got <ConnectionClose/.test(errorMessage(err));
}

/**
 * Several nodes failed: one message naming each (masked) with its reason; the
 * hint is the one for a configuration refusal if a node gave one, else for the
 * first node's failure.
 */
export function describeClusterConnectError(failures: Array<{ url: string; err: unknown }>, all: string[]): LogshipError {
  const first = failures[0];
  if (!first) return new LogshipError(ErrorCodes.AMQP_CONNECT, 'no RabbitMQ node to connect to', { hint: 'set --amqp-url (LOGSHIP_AMQP_URL)' });
  if (failures.length === 1) return describeConnectError(first.url, first.err);
  const refusal = failures.find((f) => isConfigRefusal(f.err));
  const lead = describeConnectError((refusal ?? first).url, (refusal ?? first).err);
  const each = failures.map((f) => `${maskUrl(f.url)}: ${scrubSecrets(errorMessage(f.err), all)}`).join('; ');
  return new LogshipError(ErrorCodes.AMQP_CONNECT, `cannot connect to any of the ${failures.length} RabbitMQ nodes in --amqp-url (${each})`, {
    hint: lead.hint ?? 'are the brokers running and reachable? check --amqp-url (LOGSHIP_AMQP_URL)',
    cause: (refusal ?? first).err,
  });
}

/**
 * One connection, no recovery: for bootstrap, status and other one-shot
 * commands. With a node list, the nodes are tried in a shuffled order and the
 * first that answers is used.
 */
export async function connectOnce(settings: AmqpSettings, role: string, { ordered = false } = {}): Promise<ChannelModel> {
  const nodes = amqpNodes(settings.amqpUrl);
  const options = socketOptions(settings, role);
  const failures: Array<{ url: string; err: unknown }> = [];
  for (const url of nodes.length > 1 && !ordered ? shuffled(nodes) : nodes) {
    try {
      const conn = await amqp.connect(url, options);
      conn.on('error', () => {
        /* reported through close */
      });
      return conn;
    } catch (err) {
      failures.push({ url, err });
    }
  }
  throw describeClusterConnectError(failures, nodes);
}
