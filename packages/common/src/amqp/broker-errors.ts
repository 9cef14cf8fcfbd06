/**
 * Plain-language versions of the broker's channel errors: which object, which
 * argument, the existing and the requested value, and how to fix it.
 */
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';

const INEQUIVALENT = /inequivalent arg '([^']+)' for (exchange|queue) '([^']*)' in vhost '([^']*)': received (.+?) but current is (.+?)"?$/;

function cleanValue(v: string): string {
  const typed = /^the value '(.*)' of type '[^']+'$/.exec(v);
  if (typed) return typed[1]!;
  if (v === 'none') return '(not set)';
  return v.replace(/^'+|'+$/g, '');
}

export interface ObjectRef {
  kind: 'exchange' | 'queue' | 'binding';
  name: string;
  /** the flag that names this object (dead-letter-queue, ...); default: the kind */
  option?: string;
}

/**
 * The AMQP reply code of a broker error: amqplib sets it as `code` and writes it
 * before the broker's text ("Channel closed by server: 404 (NOT-FOUND) with
 * message ...", "Operation failed: ExchangeDeclare; 403 (ACCESS-REFUSED) with
 * message ..."). Only that code counts, never digits elsewhere in the text: the
 * broker's reply names the object, and a random name such as "app-5740493a"
 * contains "404".
 */
export function brokerReplyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'number') return code;
  // the first "NNN (NAME-IN-CAPITALS)" is amqplib's, written before the broker's text
  const m = /\b(\d{3}) \([A-Z][A-Z-]*\)/.exec(errorMessage(err));
  return m ? Number(m[1]) : undefined;
}

/** The broker answered NOT_FOUND: by its reply code, or by the reply text, which starts "NOT_FOUND - ". */
export function isBrokerNotFound(err: unknown): boolean {
  return brokerReplyCode(err) === 404 || /\bNOT_FOUND - /.test(errorMessage(err));
}

/** The broker answered ACCESS_REFUSED: by its reply code, or by the reply text, which starts "ACCESS_REFUSED - ". */
export function isBrokerAccessRefused(err: unknown): boolean {
  return brokerReplyCode(err) === 403 || /\bACCESS_REFUSED - /.test(errorMessage(err));
}

/** How to delete an object by hand: rabbitmqctl has delete_queue but no delete_exchange. */
export function deleteCommand(kind: 'exchange' | 'queue', name: string, vhost: string): string {
  return kind === 'queue'
    ? `rabbitmqctl -p "${vhost}" delete_queue "${name}"`
    : `rabbitmqadmin --vhost="${vhost}" delete exchange name="${name}", or the management UI (Exchanges tab)`;
}

/** Arguments logship sets only on quorum queues (bootstrap --queue-type quorum). */
const QUORUM_ARGS = new Set(['x-delivery-limit', 'x-quorum-initial-group-size', 'x-dead-letter-strategy', 'x-overflow']);

/** Which logship setting decides the argument the broker disagrees with (values as cleanValue gives them). */
function settingFor(arg: string, option: string, requested: string, current: string): string {
  if (arg === 'x-queue-type') return "set --queue-type to the existing queue's type";
  if (arg === 'x-dead-letter-exchange') return `set --dead-letter-exchange to the one the queue was declared with, or use another --${option} name`;
  if (arg === 'type') return `use another --${option} name (the type of an exchange cannot be changed)`;
  if (QUORUM_ARGS.has(arg)) {
    // the broker names the first argument that differs, often before x-queue-type
    if (requested === '(not set)') return `set --queue-type quorum (logship sets ${arg} only on quorum queues: the existing queue is most likely one)`;
    if (current === '(not set)') {
      return `use another --${option} name (the queue was declared without ${arg}, by an earlier logship or another tool, and queue arguments cannot be changed)`;
    }
    if (arg === 'x-delivery-limit') return "set --delivery-limit to the existing queue's limit";
    if (arg === 'x-quorum-initial-group-size') return "set --quorum-group-size to the existing queue's group size";
  }
  return `use another --${option} name`;
}

export function translateBrokerError(err: unknown, what: ObjectRef, action: 'declare' | 'check' | 'use'): LogshipError {
  const msg = errorMessage(err);
  const m = INEQUIVALENT.exec(msg);
  if (m) {
    const [, arg, kind, name, vhost, received, current] = m;
    const option = what.kind === kind && what.name === name && what.option ? what.option : kind!;
    return new LogshipError(
      ErrorCodes.TOPOLOGY_MISMATCH,
      `${kind} "${name}" in vhost "${vhost}" already exists with ${arg} = ${cleanValue(current!)}, ` +
        `but logship asked for ${arg} = ${cleanValue(received!)} (broker said PRECONDITION_FAILED)`,
      {
        hint:
          `either ${settingFor(arg!, option, cleanValue(received!), cleanValue(current!))}, ` +
          `or delete the ${kind} (${deleteCommand(kind as 'exchange' | 'queue', name!, vhost!)}; ` +
          `${kind === 'queue' ? 'the messages in it are lost' : 'its bindings go with it'}) and run logship bootstrap again`,
        cause: err,
      },
    );
  }
  if (isBrokerNotFound(err)) {
    return new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `${what.kind} "${what.name}" does not exist`, {
      hint: `run "logship bootstrap" first with the same ${what.kind === 'binding' ? '--exchange/--queue settings' : `--${what.option ?? what.kind} setting`}`,
      cause: err,
    });
  }
  if (isBrokerAccessRefused(err)) {
    return new LogshipError(
      ErrorCodes.ACCESS_REFUSED,
      `the broker refused to ${action} ${what.kind} "${what.name}": ${msg.replace(/^.*ACCESS_REFUSED - /, '').replace(/"$/, '')}`,
      { hint: 'grant the RabbitMQ user the configure/write/read permission it needs on this vhost (see README: least privilege)', cause: err },
    );
  }
  return new LogshipError(ErrorCodes.AMQP_CONNECT, `the broker failed to ${action} ${what.kind} "${what.name}": ${msg}`, { cause: err });
}
