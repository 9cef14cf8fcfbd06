/** `logship dlq list|replay` against a real broker: speed, concurrent replays, a broker stop mid-replay. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import amqp from 'amqplib';
import { AMQP_URL, drainQueue, queueDepth, randomNames, type Names } from '../helpers/amqp.js';
import { runCli, startCli } from '../helpers/cli.js';
import { REAL_ES } from '../helpers/es.js';
import { bootstrap, metricValue, ship } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

/** Puts `count` letters straight into the dead-letter queue, as the indexer would (persistent, confirmed). */
async function fillDeadLetters(n: Names, count: number, url = AMQP_URL, extra: (i: number) => Record<string, unknown> = () => ({})): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < count; i++) {
      const ok = ch.sendToQueue(n.deadLetterQueue, Buffer.from(JSON.stringify({ message: `letter ${i}`, event: { id: `ev-${i}` } })), {
        persistent: true,
        contentType: 'application/json',
        headers: {
          'x-logship-event-id': `ev-${i}`,
          'x-logship-error-type': 'mapper_parsing_exception',
          'x-logship-error-reason': 'failed to parse',
          'x-logship-error-status': 400,
          ...extra(i),
        },
      });
      if (!ok) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

const execFileAsync = promisify(execFile);

function eventIds(messages: amqp.GetMessage[]): string[] {
  return messages.map((m) => String(m.properties.headers?.['x-logship-event-id']));
}

function assertNoStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /unexpected error/, stderr);
  assert.doesNotMatch(stderr, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace:\n${stderr}`);
}

describe('dlq', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  /** a bootstrapped topology without Elasticsearch, deleted after test t */
  async function topology(t: TestContext, prefix: string): Promise<Names> {
    const { n } = pipe.topology(t, prefix);
    await bootstrap(n.env, ['--skip-elasticsearch']);
    return n;
  }

  it('dlq list counts distinct events and shows the reason of letters the broker dead-lettered itself', async (t) => {
    const n = await topology(t, 'dlqlist');
    // 30 letters holding 12 distinct events: ids repeat, and 6 letters without any id (2 distinct bodies)
    await fillDeadLetters(n, 24, AMQP_URL, (i) => ({ 'x-logship-event-id': `ev-${i % 10}` }));
    await withRawChannel(async (ch) => {
      for (let i = 0; i < 6; i++) {
        ch.sendToQueue(n.deadLetterQueue, Buffer.from(`no id ${i % 2}`), {
          persistent: true,
          headers: { 'x-death': [{ count: 3, reason: 'delivery_limit', queue: n.queue, exchange: n.exchange, 'routing-keys': ['logs'] }] },
        });
      }
    });
    await waitFor('30 letters', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 30);
    const list = await runCli(['dlq', 'list', '--json', '--limit', '30'], { env: n.env });
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { total: number; scanned: number; distinctEvents: number; letters: Array<{ reason: string }> };
    assert.equal(listed.total, 30);
    assert.equal(listed.scanned, 30);
    assert.equal(listed.distinctEvents, 12);
    assert.match(listed.letters[29]!.reason, /dead-lettered by the broker: delivery_limit in queue ".*" \(3 times\)/);
    const table = await runCli(['dlq', 'list', '--limit', '3'], { env: n.env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /: 30 message\(s\), 12 distinct event\(s\), showing 3\n/);
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 30, 'list removes nothing');
  });

  it('dlq replay uses a confirm window: 5000 letters at well over 1000 letters/s', async (t) => {
    const n = await topology(t, 'dlqfast');
    await fillDeadLetters(n, 5000);
    const r = await runCli(['dlq', 'replay'], { env: n.env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const m = /replayed 5000 message\(s\) to exchange ".*" in [\d.]+ s \((\d+)\/s\); 0 left in/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) > 1000, `rate ${m[1]}/s`);
    console.log(`# ${r.stdout.trim()}`);
    const copies = await drainQueue(n.queue);
    assert.equal(copies.length, 5000);
    assert.equal(new Set(eventIds(copies)).size, 5000);
    assert.equal(copies[0]!.properties.headers?.['x-logship-replayed'], 1);
    assert.equal(copies[0]!.properties.headers?.['x-logship-error-reason'], undefined, 'error headers are dropped');
  });

  it('dlq replay --max-inflight 5 holds at most 5 letters: its consumer on the dead-letter queue has prefetch 5 (rabbitmqctl), every letter replayed once', {
    skip: process.env.LOGSHIP_TEST_AMQP_URL !== undefined && 'reads the consumer from the local node with rabbitmqctl',
  }, async (t) => {
    /** prefetch counts of the consumers on the dead-letter queue, from the local node (vhost /, the tests' broker) */
    const consumers = async (queue: string): Promise<number[]> => {
      const { stdout } = await execFileAsync('rabbitmqctl', ['list_consumers', '-p', '/', 'queue_name', 'prefetch_count', '--formatter', 'json', '--quiet']);
      return (JSON.parse(stdout) as Array<{ queue_name: string; prefetch_count: number }>).filter((r) => r.queue_name === queue).map((r) => r.prefetch_count);
    };
    const n = await topology(t, 'dlqwin');
    try {
      await consumers(n.deadLetterQueue);
    } catch (err) {
      t.skip(`rabbitmqctl cannot list the local node's consumers: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    // with a window of 5 the replay takes seconds, several rabbitmqctl calls long (about 1 s each)
    const total = 20_000;
    await fillDeadLetters(n, total);
    const replay = startCli(['dlq', 'replay', '--max-inflight', '5'], { env: n.env, timeoutMs: 120_000 });
    t.after(() => replay.child.kill('SIGKILL'));
    let exited = false;
    void replay.exited.then(() => (exited = true));
    const prefetch = await waitFor(
      'the replay consumer on the dead-letter queue',
      async () => {
        const seen = await consumers(n.deadLetterQueue);
        if (seen.length === 0 && exited) throw new Error(`the replay ended before its consumer was seen: ${replay.stdout()}${replay.stderr()}`);
        return seen[0];
      },
      60_000,
      50,
    );
    assert.equal(prefetch, 5);
    const r = await replay.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`replayed ${total} message\\(s\\) .*; 0 left in`));
    const copies = await drainQueue(n.queue);
    assert.equal(copies.length, total);
    assert.equal(new Set(eventIds(copies)).size, total);
  });

  it('dlq replay keeps the content encoding of a letter dead-lettered as received: a gzip body is replayed as gzip, not as text', async (t) => {
    const n = await topology(t, 'dlqgzip');
    const body = gzipSync('{"message":"compressed"}');
    await withRawChannel((ch) => {
      ch.sendToQueue(n.deadLetterQueue, body, {
        persistent: true,
        contentType: 'application/json',
        contentEncoding: 'gzip',
        headers: { 'x-logship-error-type': 'undecodable', 'x-logship-error-reason': 'content_encoding gzip body is corrupt' },
      });
    });
    const r = await runCli(['dlq', 'replay'], { env: n.env });
    assert.equal(r.code, 0, r.stderr);
    const [copy] = await drainQueue(n.queue);
    assert.ok(copy, 'replayed');
    assert.equal(copy.properties.contentEncoding, 'gzip');
    assert.equal(copy.properties.contentType, 'application/json');
    assert.deepEqual(copy.content, body);
  });

  it('two concurrent dlq replays hand every letter to exactly one replayer: each replayed exactly once', async (t) => {
    const n = await topology(t, 'dlqtwo');
    // enough letters that the two runs overlap (each takes some), so a replayer that grabbed all would be seen:
    // a replay runs at several thousand letters/s, and two CLIs started together can start a second apart on a busy machine
    const total = 30_000;
    await fillDeadLetters(n, total);
    const [a, b] = await Promise.all([
      runCli(['dlq', 'replay'], { env: n.env, timeoutMs: 60_000 }),
      runCli(['dlq', 'replay'], { env: n.env, timeoutMs: 60_000 }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const count = (out: string) => Number(/replayed (\d+) message/.exec(out)?.[1]);
    assert.ok(count(a.stdout) > 0 && count(b.stdout) > 0, `both replayers replayed letters, they ran at once:\n${a.stdout}${b.stdout}`);
    assert.equal(count(a.stdout) + count(b.stdout), total, `${a.stdout}${b.stdout}`);
    const copies = await drainQueue(n.queue);
    assert.equal(copies.length, total, 'exactly one copy per letter');
    assert.equal(new Set(eventIds(copies)).size, total, 'each event id once');
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 0);
  });

  it('dlq replay while the indexer still rejects: each letter replayed once, letters failing again are left for the next replay (no loop)', {
    skip: REAL_ES !== undefined && 'needs the Elasticsearch double (rejects on demand)',
  }, async (t) => {
    const { n, env } = pipe.topology(t, 'dlqbounce');
    await bootstrap(env);
    es.double!.setFaults({ reject: (src) => String(src.message).endsWith(' BAD') });
    const idx = await pipe.startIndexer(t, env);
    try {
      const total = 2000;
      const lines = Array.from({ length: total }, (_, i) => `bounce ${i} BAD`).join('\n');
      assert.equal((await ship(env, `${lines}\n`)).code, 0);
      await waitFor('every line dead-lettered', async () => (await queueDepth(n.deadLetterQueue)).messageCount === total, 30_000);
      // a limit far above the letters there: the copies that fail again come back while it runs
      const r = await runCli(['dlq', 'replay', '--limit', '100000'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^replayed ${total} message\\(s\\) `), r.stdout);
      // every copy is processed (and rejected again): then each event is in the DLQ exactly once more
      await waitFor(
        'the copies dead-lettered again',
        async () => (await metricValue(idx.url, 'logship_indexer_events_dead_lettered_total')) === 2 * total,
        30_000,
      );
      const list = await runCli(['dlq', 'list', '--json'], { env });
      const listed = JSON.parse(list.stdout) as { total: number; distinctEvents: number };
      assert.deepEqual({ total: listed.total, distinct: listed.distinctEvents }, { total, distinct: total });
    } finally {
      es.double!.clearFaults();
    }
  });

  it('dlq replay with no queue bound: returned copies put their letters back, exit 1 with the bootstrap hint', async (t) => {
    const n = await topology(t, 'dlqunbound');
    await fillDeadLetters(n, 50);
    await withRawChannel((ch) => ch.unbindQueue(n.queue, n.exchange, n.routingKey));
    const r = await runCli(['dlq', 'replay'], { env: n.env });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /routed a copy to no queue/);
    assert.match(r.stderr, /hint: .*run logship bootstrap/);
    assertNoStackTrace(r.stderr);
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 50, 'every letter is back');
  });

  it('broker stopped during dlq replay: exit 1 with the counts, no stack trace, every letter still in the DLQ or replayed', {
    skip: !rabbitAvailable() && 'rabbitmq-server not installed',
    timeout: 240_000,
  }, async () => {
    const rabbit = new PrivateRabbit();
    await rabbit.start();
    try {
      const n = randomNames('dlqstop', rabbit.url);
      await bootstrap(n.env, ['--skip-elasticsearch']);
      const total = 50_000;
      await fillDeadLetters(n, total, rabbit.url);
      const replay = startCli(['dlq', 'replay'], { env: n.env, timeoutMs: 120_000 });
      await waitFor('5000 copies in the main queue', async () => (await queueDepth(n.queue, rabbit.url)).messageCount > 5000, 30_000, 20);
      await rabbit.stop();
      const r = await replay.exited;
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /dlq replay stopped: .*(closed|connection)/i);
      assert.match(r.stderr, /Replayed \d+ letter\(s\)/);
      assert.match(r.stderr, /nothing is lost/);
      assertNoStackTrace(r.stderr);
      const replayed = Number(/Replayed (\d+) letter/.exec(r.stderr)?.[1]);
      console.log(r.stderr.replace(/^/gm, '# '));
      await rabbit.start();
      const left = eventIds(await drainQueue(n.deadLetterQueue, rabbit.url));
      const copies = eventIds(await drainQueue(n.queue, rabbit.url));
      assert.equal(new Set(left).size, left.length, 'no letter twice in the DLQ');
      assert.equal(new Set(copies).size, copies.length, 'no copy twice in the main queue');
      assert.ok(copies.length >= replayed, `every confirmed copy survived (${copies.length} >= ${replayed})`);
      const all = new Set([...left, ...copies]);
      assert.equal(all.size, total, 'every letter is in the DLQ or replayed');
      const both = left.length + copies.length - total;
      // a letter both replayed and still dead-lettered: its ack (or its unconfirmed copy's outcome) was lost with the connection
      console.log(`# broker stop mid-replay: replayed ${replayed}, copies ${copies.length}, left ${left.length}, in both ${both}`);
    } finally {
      await rabbit.destroy();
    }
  });
});

async function withRawChannel(fn: (ch: amqp.ConfirmChannel) => unknown): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    await fn(ch);
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}
