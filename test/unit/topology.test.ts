/**
 * The queue arguments bootstrap declares, and what --check says about them,
 * without a broker: classic queues keep the arguments they always had; quorum
 * queues get a delivery limit, at-least-once dead-lettering (which needs
 * x-overflow reject-publish) and an initial group size on the main queue, and
 * no delivery limit on the dead-letter queue (a letter over it would be
 * dropped: that queue dead-letters nowhere). The broker's own equivalence
 * check is tested against RabbitMQ in test/integration/quorum.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ErrorCodes,
  brokerReplyCode,
  checkTopology,
  declareTopology,
  isBrokerAccessRefused,
  isBrokerNotFound,
  queueArguments,
  translateBrokerError,
  type ChannelFactory,
  type TopologySettings,
} from '@logship/common';

const base: TopologySettings = {
  exchange: 'logs',
  queue: 'logs.indexer',
  routingKey: 'logs',
  deadLetterExchange: 'logs.dlx',
  deadLetterQueue: 'logs.dead',
  queueType: 'classic',
  deliveryLimit: 20,
  quorumGroupSize: 3,
};
const quorum: TopologySettings = { ...base, queueType: 'quorum' };

/** A channel factory that accepts everything and records the queue declarations. */
function fakeBroker() {
  const declared: Array<{ queue: string; args: Record<string, unknown> }> = [];
  const factory = {
    async createChannel() {
      return {
        on() {},
        async close() {},
        async checkExchange() {},
        async checkQueue(queue: string) {
          return { queue, messageCount: 0, consumerCount: 0 };
        },
        async assertExchange() {},
        async assertQueue(queue: string, options: { arguments: Record<string, unknown> }) {
          declared.push({ queue, args: options.arguments });
          return { queue, messageCount: 0, consumerCount: 0 };
        },
        async bindQueue() {},
      };
    },
  } as unknown as ChannelFactory;
  return { factory, declared };
}

describe('topology: queue arguments', () => {
  it('classic queues: the dead-letter exchange on the main queue, nothing else', () => {
    assert.deepEqual(queueArguments(base, true), { 'x-dead-letter-exchange': 'logs.dlx' });
    assert.deepEqual(queueArguments(base, false), {});
  });

  it('quorum main queue: delivery limit, at-least-once dead-lettering with reject-publish, initial group size', () => {
    assert.deepEqual(queueArguments(quorum, true), {
      'x-queue-type': 'quorum',
      'x-quorum-initial-group-size': 3,
      'x-dead-letter-exchange': 'logs.dlx',
      'x-delivery-limit': 20,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
  });

  it('quorum dead-letter queue: no delivery limit, no overflow behaviour, no dead-letter exchange', () => {
    assert.deepEqual(queueArguments({ ...quorum, deliveryLimit: 7, quorumGroupSize: 5 }, false), {
      'x-queue-type': 'quorum',
      'x-quorum-initial-group-size': 5,
    });
  });

  it('bootstrap declares those arguments, and --check re-declares them with x-queue-type named', async () => {
    const { factory, declared } = fakeBroker();
    const steps: string[] = [];
    await declareTopology(factory, quorum, (s) => steps.push(s.description));
    assert.match(steps[1]!, /^dead-letter queue "logs\.dead" \(durable, quorum, 3 members requested, no delivery limit\)$/);
    assert.match(
      steps[4]!,
      /^queue "logs\.indexer" \(durable, quorum, 3 members requested, delivery limit 20, reject-publish when full, dead letters at least once to "logs\.dlx"\)$/,
    );
    assert.deepEqual(declared[1]!.args, queueArguments(quorum, true));

    declared.length = 0;
    const classic = await checkTopology(factory, base);
    assert.deepEqual(declared[0]!.args, { 'x-queue-type': 'classic' }, 'the verify step names the type');
    assert.ok(
      classic.every((r) => !/members/.test(r.step.description)),
      'classic queues have no members to report',
    );
  });

  it('--check on quorum queues reports what AMQP cannot show: the current members, with the command that shows them', async () => {
    const { factory } = fakeBroker();
    const results = await checkTopology(factory, quorum);
    const members = results.filter((r) => /^members of quorum queue/.test(r.step.description));
    assert.deepEqual(
      members.map((r) => r.step.description),
      [
        'members of quorum queue "logs.dead" (declared with x-quorum-initial-group-size 3)',
        'members of quorum queue "logs.indexer" (declared with x-quorum-initial-group-size 3)',
      ],
    );
    for (const r of members) {
      assert.equal(r.state, 'unverifiable');
      assert.match(r.problem!, /not visible over AMQP 0-9-1: run "rabbitmq-queues quorum_status logs\.(dead|indexer)" on a node/);
    }
    assert.equal(results.filter((r) => r.state === 'ok').length, 4, 'two exchanges and two queues verified');
    const bindings = results.filter((r) => r.step.object.kind === 'binding');
    assert.ok(bindings.every((r) => r.state === 'unverifiable' && r.problem === 'bindings cannot be checked passively'));
  });
});

describe('topology: mismatches of the quorum arguments name the option that fixes them', () => {
  const inequivalent = (arg: string, received: string, current: string) =>
    new Error(
      `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg '${arg}' for queue 'logs.indexer' in vhost '/': received ${received} but current is ${current}"`,
    );
  const what = { kind: 'queue' as const, name: 'logs.indexer', option: 'queue' };

  it('x-delivery-limit: --delivery-limit', () => {
    const e = translateBrokerError(inequivalent('x-delivery-limit', "'5'", "'20'"), what, 'check');
    assert.equal(e.code, ErrorCodes.TOPOLOGY_MISMATCH);
    assert.match(e.message, /already exists with x-delivery-limit = 20, but logship asked for x-delivery-limit = 5/);
    assert.match(e.hint!, /set --delivery-limit to the existing queue's limit/);
  });

  it('x-quorum-initial-group-size: --quorum-group-size', () => {
    const e = translateBrokerError(inequivalent('x-quorum-initial-group-size', "'5'", "'3'"), what, 'check');
    assert.match(e.message, /x-quorum-initial-group-size = 3, but logship asked for x-quorum-initial-group-size = 5/);
    assert.match(e.hint!, /--quorum-group-size/);
  });

  it('a quorum-only argument logship did not ask for: the queue is most likely a quorum queue, --queue-type quorum', () => {
    const e = translateBrokerError(inequivalent('x-dead-letter-strategy', 'none', "the value 'at-least-once' of type 'longstr'"), what, 'check');
    assert.match(e.message, /x-dead-letter-strategy = at-least-once, but logship asked for x-dead-letter-strategy = \(not set\)/);
    assert.match(e.hint!, /set --queue-type quorum/);
  });

  it('a quorum queue declared without them (an earlier logship): another --queue name, or delete it', () => {
    const e = translateBrokerError(inequivalent('x-delivery-limit', "'20'", 'none'), what, 'declare');
    assert.match(e.message, /x-delivery-limit = \(not set\), but logship asked for x-delivery-limit = 20/);
    assert.match(e.hint!, /use another --queue name \(the queue was declared without x-delivery-limit/);
    assert.match(e.hint!, /rabbitmqctl -p "\/" delete_queue "logs\.indexer"/);
  });
});

describe('topology: a refusal is read from the reply code, never from the digits of a name', () => {
  // amqplib's texts: the reply code and its name come first, the broker's message (which names the object) after
  const refused = (name: string) =>
    Object.assign(
      new Error(
        `Operation failed: ExchangeDeclare; 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to exchange '${name}' in vhost '/' refused for user 'shipper'"`,
      ),
      { code: 403 },
    );
  const missing = (name: string) => new Error(`Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange '${name}' in vhost '/'"`);

  it('ACCESS_REFUSED for an exchange whose random name contains 404 is a refusal, not a missing exchange', () => {
    const name = 'leastpriv-fe5740493a.dlx';
    const e = translateBrokerError(refused(name), { kind: 'exchange', name }, 'declare');
    assert.equal(e.code, ErrorCodes.ACCESS_REFUSED, e.message);
    assert.match(e.message, /the broker refused to declare exchange "leastpriv-fe5740493a\.dlx": access to exchange/);
  });

  it('NOT_FOUND for an exchange whose name contains 403 is a missing exchange, also when only the text says so', () => {
    const name = 'app-7403ab';
    const e = translateBrokerError(missing(name), { kind: 'exchange', name }, 'check');
    assert.equal(e.code, ErrorCodes.TOPOLOGY_MISSING, e.message);
    assert.equal(brokerReplyCode(missing(name)), 404);
    assert.equal(brokerReplyCode(refused('x-404')), 403);
  });

  it('another error whose text holds 404 or 403 only in a name is neither', () => {
    const e = translateBrokerError(
      new Error('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag 1 on \'q-404-403\'"'),
      { kind: 'queue', name: 'q-404-403' },
      'use',
    );
    assert.equal(e.code, ErrorCodes.AMQP_CONNECT, e.message);
    assert.equal(isBrokerNotFound(new Error("IllegalOperationError: Channel closed ('app-404')")), false);
    assert.equal(isBrokerAccessRefused(new Error("IllegalOperationError: Channel closed ('app-403')")), false);
  });
});
