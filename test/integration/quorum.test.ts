/**
 * Quorum queues done right, against the shared RabbitMQ (3.10): what
 * `bootstrap --queue-type quorum` declares and what `--check` verifies of it;
 * a message returned more often than x-delivery-limit is dead-lettered by the
 * broker with x-death, and `dlq list` names that reason; a full queue with
 * x-overflow reject-publish nacks publishes, and the shipper retries them by
 * time until there is room again (issue: "the broker rejected a message 6
 * times" after a few seconds of nacks).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import amqp from 'amqplib';
import { AMQP_URL, queueDepth, withChannel, type Names } from '../helpers/amqp.js';
import { runCli, startCli } from '../helpers/cli.js';
import { bootstrap, numberedLines } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const QUORUM = ['--skip-elasticsearch', '--queue-type', 'quorum'];

/** the main queue's arguments as bootstrap declares them with --delivery-limit `limit` */
function mainArguments(n: Names, limit: number, groupSize = 3): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-quorum-initial-group-size': groupSize,
    'x-dead-letter-exchange': n.deadLetterExchange,
    'x-delivery-limit': limit,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

describe('quorum queues', () => {
  // the broker side only (bootstrap --skip-elasticsearch)
  const pipe = usePipeline({ es: false });

  it('bootstrap --queue-type quorum declares the delivery limit, at-least-once dead-lettering and the group size; --check verifies them and names what AMQP cannot show', async (t) => {
    const { n } = pipe.topology(t, 'qq');
    const boot = await bootstrap(n.env, [...QUORUM, '--delivery-limit', '4']);
    assert.match(boot.stdout, /declared dead-letter queue .*\(durable, quorum, 3 members requested, no delivery limit\)/);
    assert.match(
      boot.stdout,
      /declared queue .*\(durable, quorum, 3 members requested, delivery limit 4, reject-publish when full, dead letters at least once to/,
    );
    // the broker holds exactly these arguments: the same declaration is a no-op, any other is refused
    await withChannel((ch) => ch.assertQueue(n.queue, { durable: true, arguments: mainArguments(n, 4) }));
    await withChannel((ch) => ch.assertQueue(n.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 3 } }));
    await assert.rejects(
      withChannel((ch) => ch.assertQueue(n.queue, { durable: true, arguments: { ...mainArguments(n, 4), 'x-dead-letter-strategy': undefined } })),
      /inequivalent arg 'x-dead-letter-strategy'/,
    );
    assert.equal((await runCli(['bootstrap', ...QUORUM, '--delivery-limit', '4'], { env: n.env })).code, 0, 'idempotent');

    const ok = await runCli(['bootstrap', '--check', ...QUORUM, '--delivery-limit', '4'], { env: n.env });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok\\s+queue "${n.queue}" \\(durable, quorum, 3 members requested, delivery limit 4, .*\\): verified`));
    for (const q of [n.deadLetterQueue, n.queue]) {
      assert.match(
        ok.stdout,
        new RegExp(
          `unknown  members of quorum queue "${q}" \\(declared with x-quorum-initial-group-size 3\\): the current member count is not visible over AMQP 0-9-1: run "rabbitmq-queues quorum_status ${q}"`,
        ),
      );
    }

    const limit = await runCli(['bootstrap', '--check', ...QUORUM], { env: n.env });
    assert.equal(limit.code, 1, limit.stdout);
    assert.match(
      limit.stdout,
      new RegExp(`MISMATCH queue "${n.queue}" .*already exists with x-delivery-limit = 4, but logship asked for x-delivery-limit = 20`),
    );
    assert.match(limit.stderr, /set --delivery-limit to the existing queue's limit/);

    const members = await runCli(['bootstrap', '--check', ...QUORUM, '--delivery-limit', '4', '--quorum-group-size', '5'], { env: n.env });
    assert.equal(members.code, 1, members.stdout);
    for (const q of [n.deadLetterQueue, n.queue]) {
      assert.match(
        members.stdout,
        new RegExp(`MISMATCH (dead-letter )?queue "${q}" .*x-quorum-initial-group-size = 3, but logship asked for x-quorum-initial-group-size = 5`),
      );
    }
    assert.match(members.stderr, /--quorum-group-size/);
  });

  it('a message nacked with requeue more often than --delivery-limit is dead-lettered by the broker with x-death, and dlq list shows that reason', async (t) => {
    const { n } = pipe.topology(t, 'qqlimit');
    await bootstrap(n.env, [...QUORUM, '--delivery-limit', '2']);
    await publish(n, '{"message":"poison"}', 'poison-1');
    // an indexer that gives the message back every time (nack with requeue)
    const deliveries = await withChannel(async (ch) => {
      let count = 0;
      for (;;) {
        const m = await waitFor('the message, or its absence', async () => {
          const got = await ch.get(n.queue);
          if (got) return got;
          return (await ch.checkQueue(n.queue)).messageCount === 0 ? null : undefined;
        });
        if (m === null) return count;
        count++;
        assert.ok(count <= 10, 'the broker stops redelivering');
        ch.nack(m, false, true);
      }
    });
    assert.equal(deliveries, 3, 'delivered once, then redelivered up to the limit of 2');
    await waitFor('the letter in the dead-letter queue', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 1);
    assert.equal((await queueDepth(n.queue)).messageCount, 0);

    const list = await runCli(['dlq', 'list', '--json'], { env: n.env });
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { total: number; letters: Array<{ eventId: string; reason: string }> };
    assert.equal(listed.total, 1);
    assert.equal(listed.letters[0]!.eventId, 'poison-1');
    assert.match(listed.letters[0]!.reason, new RegExp(`^dead-lettered by the broker: delivery_limit in queue "${n.queue}"`));
    const table = await runCli(['dlq', 'list'], { env: n.env });
    assert.match(table.stdout, /delivery_limit/);

    await withChannel(async (ch) => {
      const letter = await waitFor('the letter back in the dead-letter queue', async () => (await ch.get(n.deadLetterQueue)) || undefined);
      const deaths = letter.properties.headers?.['x-death'];
      assert.ok(deaths && deaths.length > 0, 'x-death is set');
      assert.equal(deaths[0]!.reason, 'delivery_limit');
      assert.equal(deaths[0]!.queue, n.queue);
      assert.equal(String(letter.properties.headers?.['x-first-death-reason']), 'delivery_limit');
      ch.nack(letter, false, true);
    });
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 1, 'listing and reading removed nothing');
  });

  it('a full quorum queue with x-overflow reject-publish nacks publishes; ship retries them by time and delivers every line once there is room', async (t) => {
    const { n } = pipe.topology(t, 'qqfull');
    await bootstrap(n.env, QUORUM);
    // the same queue, but with room for 5 messages (as a max-length policy would give it)
    await withChannel((ch) => ch.deleteQueue(n.queue));
    await withChannel(async (ch) => {
      await ch.assertQueue(n.queue, { durable: true, arguments: { ...mainArguments(n, 20), 'x-max-length': 5 } });
      await ch.bindQueue(n.queue, n.exchange, n.routingKey);
    });
    const total = 12;
    // one message in flight at a time: the broker applies the limit a little late, a burst overshoots it
    const shipper = pipe.track(t, startCli(['ship', '--max-inflight', '1'], { env: n.env, input: numberedLines(total), timeoutMs: 120_000 }), 'SIGKILL');
    // more nacks for one message than the old budget allowed (5 retries), the run still going
    await waitFor('7 nacks of one message, or the end of ship', () => /"nacks":7,/.test(shipper.stderr()) || shipper.child.exitCode !== null, 60_000);
    assert.equal(shipper.child.exitCode, null, `ship is still retrying:\n${shipper.stderr()}`);
    const depth = (await queueDepth(n.queue)).messageCount;
    assert.ok(depth >= 5 && depth < total, `the queue is full (${depth})`);
    // an indexer arrives: the queue drains and the nacked lines go in
    const bodies = await withChannel(async (ch) => {
      const seen: string[] = [];
      await ch.consume(n.queue, (m) => {
        if (!m) return;
        seen.push(m.content.toString());
        ch.ack(m);
      });
      await waitFor(`${total} messages`, () => seen.length >= total, 60_000);
      return seen;
    });
    const r = await shipper.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`read ${total}, published ${total}, skipped 0, failed 0`));
    assert.equal(bodies.length, total);
    const lines = new Set(bodies.map((b) => (JSON.parse(b) as { message: string }).message));
    assert.equal(lines.size, total, 'every line once');
  });
});

/** publishes one message to the exchange, persistent, mandatory and confirmed */
async function publish(n: Names, body: string, messageId: string): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish(n.exchange, n.routingKey, Buffer.from(body), { persistent: true, mandatory: true, messageId });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}
