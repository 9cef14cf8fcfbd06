/**
 * The topology as small ordered steps (docs/DESIGN.md principle 3): dead-letter
 * exchange, dead-letter queue and binding, main exchange, main queue, binding.
 * A message published before its queue is bound is lost, so the order matters.
 */
import type { Channel, ChannelModel } from 'amqplib';

/** Anything that opens channels: a plain or a recovering connection. */
export type ChannelFactory = Pick<ChannelModel, 'createChannel'>;
import type { Config } from '../config/schema.js';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { translateBrokerError, type ObjectRef } from './broker-errors.js';

/**
 * The options the topology is built from (exchange and queue names, queue
 * type; quorum only: x-delivery-limit of the main queue and
 * x-quorum-initial-group-size of both queues).
 */
export type TopologySettings = Pick<
  Config,
  'exchange' | 'queue' | 'routingKey' | 'deadLetterExchange' | 'deadLetterQueue' | 'queueType' | 'deliveryLimit' | 'quorumGroupSize'
>;

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

/**
 * The arguments of a queue. Classic queues: the dead-letter exchange only (as
 * before quorum support). Quorum queues (RabbitMQ 3.10 or later):
 *
 * - both: x-quorum-initial-group-size, the one member count AMQP can verify
 *   (the broker compares it on a re-declaration; current members are not
 *   visible over AMQP 0-9-1);
 * - the main queue: x-delivery-limit, so a message returned that often (nacked
 *   with requeue, or held by a consumer whose channel closed) is dead-lettered
 *   with x-death reason delivery_limit instead of cycling forever; and
 *   x-dead-letter-strategy at-least-once, which the broker honours only with
 *   x-overflow reject-publish (else it silently dead-letters at most once):
 *   the queue keeps a dead letter until the dead-letter queue confirmed it.
 *   reject-publish only acts when a max-length is set (by a policy): a full
 *   queue then nacks publishes, which the shipper retries for its nack budget.
 * - the dead-letter queue: no delivery limit. It has no dead-letter exchange
 *   of its own, so a letter over a limit would be dropped, and every
 *   `dlq list` returns each letter it read once (one count per listing).
 */
export function queueArguments(t: TopologySettings, main: boolean): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (t.queueType === 'quorum') {
    args['x-queue-type'] = 'quorum';
    args['x-quorum-initial-group-size'] = t.quorumGroupSize;
  }
  if (main) {
    args['x-dead-letter-exchange'] = t.deadLetterExchange;
    if (t.queueType === 'quorum') {
      args['x-delivery-limit'] = t.deliveryLimit;
      args['x-dead-letter-strategy'] = 'at-least-once';
      args['x-overflow'] = 'reject-publish';
    }
  }
  return args;
}

function typedArguments(t: TopologySettings, main: boolean): Record<string, unknown> {
  return { ...queueArguments(t, main), 'x-queue-type': t.queueType };
}

function quorumDetails(t: TopologySettings, main: boolean): string {
  if (t.queueType !== 'quorum') return '';
  const members = `${t.quorumGroupSize} member${t.quorumGroupSize === 1 ? '' : 's'} requested`;
  return main ? `, ${members}, delivery limit ${t.deliveryLimit}, reject-publish when full` : `, ${members}, no delivery limit`;
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
      description: `dead-letter queue "${t.deadLetterQueue}" (durable, ${t.queueType}${quorumDetails(t, false)})`,
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
      description: `queue "${t.queue}" (durable, ${t.queueType}${quorumDetails(t, true)}, dead letters ${t.queueType === 'quorum' ? 'at least once ' : ''}to "${t.deadLetterExchange}")`,
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
  /**
   * ok: exists with the expected settings; exists-unverified: exists, settings not readable;
   * unverifiable: what AMQP 0-9-1 cannot show (bindings, the current members of a quorum queue), `problem` says why
   */
  state: 'ok' | 'missing' | 'mismatch' | 'error' | 'unverifiable' | 'exists-unverified';
  problem?: string;
  hint?: string;
}

/**
 * Declares nothing that does not exist: a passive check first, then, for an
 * object that exists, a declaration with the expected settings on a throwaway
 * channel, which only the broker's equivalence check can answer (type,
 * durability, x-queue-type, x-dead-letter-exchange, and for quorum queues
 * x-delivery-limit, x-dead-letter-strategy, x-overflow and
 * x-quorum-initial-group-size). Without the configure
 * permission that second step is refused and the object is reported as
 * existing but unverified. (An object deleted between the two steps would be
 * re-created by the second: a window of one round trip.)
 */
export async function checkTopology(conn: ChannelFactory, t: TopologySettings): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const step of topologySteps(t)) {
    await checkStep(conn, step, results);
    if (t.queueType === 'quorum' && step.object.kind === 'queue') results.push(membersResult(t, step.object.name));
  }
  return results;
}

/**
 * What --check can say about a quorum queue's members over AMQP: the
 * re-declaration above compared x-quorum-initial-group-size (the count the
 * queue was created with, capped by the broker at the nodes of the cluster
 * then); how many members it has now (nodes added or removed since, members
 * down) only rabbitmq-queues or the management API can tell.
 */
function membersResult(t: TopologySettings, queue: string): CheckResult {
  return {
    step: {
      description: `members of quorum queue "${queue}" (declared with x-quorum-initial-group-size ${t.quorumGroupSize})`,
      object: { kind: 'queue', name: queue },
      declare: async () => undefined,
    },
    state: 'unverifiable',
    problem: `the current member count is not visible over AMQP 0-9-1: run "rabbitmq-queues quorum_status ${queue}" on a node`,
  };
}

async function checkStep(conn: ChannelFactory, step: TopologyStep, results: CheckResult[]): Promise<void> {
  if (!step.check) {
    results.push({ step, state: 'unverifiable', problem: 'bindings cannot be checked passively' });
    return;
  }
  try {
    await withChannel(conn, step.check);
  } catch (err) {
    const e = translateBrokerError(err, step.object, 'check');
    results.push({ step, state: e.code === ErrorCodes.TOPOLOGY_MISSING ? 'missing' : 'error', problem: e.message, hint: e.hint });
    return;
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
