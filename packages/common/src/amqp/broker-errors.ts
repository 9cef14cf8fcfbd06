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
}

export function translateBrokerError(err: unknown, what: ObjectRef, action: 'declare' | 'check' | 'use'): LogshipError {
  const msg = errorMessage(err);
  const m = INEQUIVALENT.exec(msg);
  if (m) {
    const [, arg, kind, name, vhost, received, current] = m;
    return new LogshipError(
      ErrorCodes.TOPOLOGY_MISMATCH,
      `${kind} "${name}" in vhost "${vhost}" already exists with ${arg} = ${cleanValue(current!)}, ` +
        `but logship asked for ${arg} = ${cleanValue(received!)} (broker said PRECONDITION_FAILED)`,
      {
        hint:
          `either change logship's settings to match the existing ${kind} (e.g. --queue-type, or another --${kind} name), ` +
          `or delete the ${kind} (rabbitmqctl delete_${kind === 'queue' ? 'queue' : 'exchange'} ${name}; messages in it are lost) and run logship bootstrap again`,
        cause: err,
      },
    );
  }
  if (/NOT_FOUND|404/.test(msg)) {
    return new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `${what.kind} "${what.name}" does not exist`, {
      hint: 'run "logship bootstrap" with the same --exchange/--queue settings first',
      cause: err,
    });
  }
  if (/ACCESS_REFUSED|403/.test(msg)) {
    return new LogshipError(
      ErrorCodes.ACCESS_REFUSED,
      `the broker refused to ${action} ${what.kind} "${what.name}": ${msg.replace(/^.*ACCESS_REFUSED - /, '').replace(/"$/, '')}`,
      { hint: 'grant the RabbitMQ user the configure/write/read permission it needs on this vhost (see README: least privilege)', cause: err },
    );
  }
  return new LogshipError(ErrorCodes.AMQP_CONNECT, `the broker failed to ${action} ${what.kind} "${what.name}": ${msg}`, { cause: err });
}
