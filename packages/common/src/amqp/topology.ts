/**
 * The topology as small ordered steps (docs/DESIGN.md principle 3): dead-letter
 * exchange, dead-letter queue and binding, main exchange, main queue, binding.
 * A message published before its queue is bound is lost, so the order matters.
 */
import type { Channel, ChannelModel } from 'amqplib';

/** Anything that opens channels: a plain or a recovering connection. */
export type ChannelFactory = Pick<ChannelModel, 'createChannel'>;
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { translateBrokerError, type ObjectRef } from './broker-errors.js';

export interface TopologySettings {
  exchange: string;
  queue: string;
  routingKey: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
  queueType: 'classic' | 'quorum';
}

export interface TopologyStep {
  description: string;
  object: ObjectRef;
  declare(ch: Channel): Promise<unknown>;
  /** passive check; undefined when AMQP 0-9-1 cannot check it without side effects */
  check?: (ch: Channel) => Promise<unknown>;
  /**
   * what a passive check cannot see (exchange type, queue arguments, durability):
   * the object is declared again with the expected settings, a no-op when they
   * match and PRECONDITION_FAILED when they differ. Run only after the passive
   * check found the object: on a missing object a declaration would create it.
   * Default: declare. The queues name their type explicitly here, which RabbitMQ
   * versions treating a missing x-queue-type leniently still compare.
   */
  verify?: (ch: Channel) => Promise<unknown>;
}

function queueArguments(t: TopologySettings, deadLetter: boolean): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (t.queueType === 'quorum') args['x-queue-type'] = 'quorum';
  if (deadLetter) args['x-dead-letter-exchange'] = t.deadLetterExchange;
  return args;
}

function typedArguments(t: TopologySettings, deadLetter: boolean): Record<string, unknown> {
  return { ...queueArguments(t, deadLetter), 'x-queue-type': t.queueType };
}

export function topologySteps(t: TopologySettings): TopologyStep[] {
  return [
    {
      description: `dead-letter exchange "${t.deadLetterExchange}" (fanout, durable)`,
      object: { kind: 'exchange', name: t.deadLetterExchange, option: 'dead-letter-exchange' },
      declare: (ch) => ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true, autoDelete: false }),
      check: (ch) => ch.checkExchange(t.deadLetterExchange),
    },
    {
      description: `dead-letter queue "${t.deadLetterQueue}" (durable, ${t.queueType})`,
      object: { kind: 'queue', name: t.deadLetterQueue, option: 'dead-letter-queue' },
      declare: (ch) => ch.assertQueue(t.deadLetterQueue, { durable: true, autoDelete: false, exclusive: false, arguments: queueArguments(t, false) }),
      verify: (ch) => ch.assertQueue(t.deadLetterQueue, { durable: true, autoDelete: false, exclusive: false, arguments: typedArguments(t, false) }),
      check: (ch) => ch.checkQueue(t.deadLetterQueue),
    },
    {
      description: `binding "${t.deadLetterExchange}" -> "${t.deadLetterQueue}"`,
      object: { kind: 'binding', name: `${t.deadLetterExchange} -> ${t.deadLetterQueue}` },
      declare: (ch) => ch.bindQueue(t.deadLetterQueue, t.deadLetterExchange, ''),
    },
    {
      description: `exchange "${t.exchange}" (direct, durable)`,
      object: { kind: 'exchange', name: t.exchange, option: 'exchange' },
      declare: (ch) => ch.assertExchange(t.exchange, 'direct', { durable: true, autoDelete: false }),
      check: (ch) => ch.checkExchange(t.exchange),
    },
    {
      description: `queue "${t.queue}" (durable, ${t.queueType}, dead letters to "${t.deadLetterExchange}")`,
      object: { kind: 'queue', name: t.queue, option: 'queue' },
      declare: (ch) => ch.assertQueue(t.queue, { durable: true, autoDelete: false, exclusive: false, arguments: queueArguments(t, true) }),
      verify: (ch) => ch.assertQueue(t.queue, { durable: true, autoDelete: false, exclusive: false, arguments: typedArguments(t, true) }),
      check: (ch) => ch.checkQueue(t.queue),
    },
    {
      description: `binding "${t.exchange}" -> "${t.queue}" with routing key "${t.routingKey}"`,
      object: { kind: 'binding', name: `${t.exchange} -> ${t.queue} (${t.routingKey})` },
      declare: (ch) => ch.bindQueue(t.queue, t.exchange, t.routingKey),
    },
  ];
}

async function withChannel<T>(conn: ChannelFactory, fn: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await conn.createChannel();
  let closed = false;
  ch.on('error', () => {
    /* the failing operation rejects with the same error */
  });
  ch.on('close', () => {
    closed = true;
  });
  try {
    return await fn(ch);
  } finally {
    if (!closed) await ch.close().catch(() => undefined);
  }
}

/** Declares every step in order; stops at the first failure with a plain message. */
export async function declareTopology(conn: ChannelFactory, t: TopologySettings, onStep?: (s: TopologyStep) => void): Promise<void> {
  for (const step of topologySteps(t)) {
    try {
      // one channel per step: a refused declaration closes its channel
      await withChannel(conn, (ch) => step.declare(ch));
    } catch (err) {
      throw translateBrokerError(err, step.object, 'declare');
    }
    onStep?.(step);
  }
}

export interface CheckResult {
  step: TopologyStep;
  /** ok: exists with the expected settings; exists-unverified: exists, settings not readable; unverifiable: bindings */
  state: 'ok' | 'missing' | 'mismatch' | 'error' | 'unverifiable' | 'exists-unverified';
  problem?: string;
  hint?: string;
}

/**
 * Declares nothing that does not exist: a passive check first, then, for an
 * object that exists, a declaration with the expected settings on a throwaway
 * channel, which only the broker's equivalence check can answer (type,
 * durability, x-queue-type, x-dead-letter-exchange). Without the configure
 * permission that second step is refused and the object is reported as
 * existing but unverified. (An object deleted between the two steps would be
 * re-created by the second: a window of one round trip.)
 */
export async function checkTopology(conn: ChannelFactory, t: TopologySettings): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const step of topologySteps(t)) {
    if (!step.check) {
      results.push({ step, state: 'unverifiable' });
      continue;
    }
    try {
      await withChannel(conn, step.check);
    } catch (err) {
      const e = translateBrokerError(err, step.object, 'check');
      results.push({ step, state: e.code === ErrorCodes.TOPOLOGY_MISSING ? 'missing' : 'error', problem: e.message, hint: e.hint });
      continue;
    }
    try {
      await withChannel(conn, (ch) => (step.verify ?? step.declare)(ch));
      results.push({ step, state: 'ok' });
    } catch (err) {
      const e = translateBrokerError(err, step.object, 'check');
      if (e.code === ErrorCodes.ACCESS_REFUSED) {
        results.push({ step, state: 'exists-unverified', problem: 'exists; its settings need the configure permission to be verified' });
      } else {
        results.push({ step, state: e.code === ErrorCodes.TOPOLOGY_MISMATCH ? 'mismatch' : 'error', problem: e.message, hint: e.hint });
      }
    }
  }
  return results;
}

/** Checks that an exchange exists before publishing to it (a clear error instead of a closed channel). */
export async function requireExchange(conn: ChannelFactory, exchange: string): Promise<void> {
  try {
    await withChannel(conn, (ch) => ch.checkExchange(exchange));
  } catch (err) {
    const e = translateBrokerError(err, { kind: 'exchange', name: exchange }, 'check');
    if (e.code === ErrorCodes.TOPOLOGY_MISSING) {
      throw new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `exchange "${exchange}" does not exist`, {
        hint: 'run "logship bootstrap" first: it declares the exchange, the queue and the binding in the right order',
      });
    }
    throw e;
  }
}

export async function requireQueue(conn: ChannelFactory, queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  try {
    return await withChannel(conn, (ch) => ch.checkQueue(queue));
  } catch (err) {
    const e = translateBrokerError(err, { kind: 'queue', name: queue }, 'check');
    if (e.code === ErrorCodes.TOPOLOGY_MISSING) {
      throw new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `queue "${queue}" does not exist`, {
        hint: 'run "logship bootstrap" first with the same --queue setting',
      });
    }
    throw new LogshipError(e.code, `${e.message} (${errorMessage(err)})`, { cause: err });
  }
}
