/** Fault behaviours of the core pipeline: bad input, SIGTERM drain, broker restart. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteTopology, queueDepth, randomNames } from '../helpers/amqp.js';
import { startCli } from '../helpers/cli.js';
import { drained } from '../helpers/file-state.js';
import { bootstrap, metricValue, numberedLines, ship, startIndexer, stopProcess } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('faults', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('bad input: invalid UTF-8, a 5 MB line, NUL bytes, CRLF, empty lines: each accounted for, nothing else lost', async (t) => {
    const { n, env } = pipe.topology(t, 'badin');
    await bootstrap(env);
    await pipe.startIndexer(t, env);
    const input = Buffer.concat([
      Buffer.from('first\n'),
      Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0xc3, 0x0a]), // "bad " + invalid bytes
      Buffer.alloc(5 * 1024 * 1024, 'z'),
      Buffer.from('\nnul\u0000byte\n'),
      Buffer.from('crlf line\r\n\n\r\n\n'),
      Buffer.from('   \n'),
      Buffer.from('last without newline'),
    ]);
    const r = await ship(env, input);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 10, published 7, skipped 3, failed 0 \(truncated 1,/);
    await waitFor('7 documents', async () => (await es.count(n.indexWildcard)) === 7, 30_000);
    const docs = (await es.all(n.indexWildcard)).map((d) => d.source as { message: string; tags: string[] });
    const msgs = docs.map((d) => d.message);
    assert.ok(msgs.includes('first'));
    assert.ok(msgs.includes('bad \uFFFD\uFFFD\uFFFD'), 'invalid UTF-8 replaced, line kept');
    assert.ok(msgs.includes('nul\u0000byte'));
    assert.ok(msgs.includes('crlf line'));
    assert.ok(msgs.includes('   '));
    assert.ok(msgs.includes('last without newline'));
    const big = docs.find((d) => d.message.startsWith('zzz'))!;
    assert.equal(big.message.length, 1024 * 1024, 'truncated to --max-line-bytes (1mb)');
    assert.deepEqual(big.tags, ['_truncated']);
  });

  it('bad input: malformed JSON under --codec json keeps the line with _jsonparsefailure', async (t) => {
    const { n, env } = pipe.topology(t, 'badjson');
    await bootstrap(env);
    await pipe.startIndexer(t, env);
    const r = await ship(env, '{"message":"ok","level":"info"}\n{"message": broken\n\n[1,2]\n', ['--codec', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 4, published 3, skipped 1, failed 0 .*json failures 2/);
    await waitFor('3 documents', async () => (await es.count(n.indexWildcard)) === 3, 30_000);
    const docs = (await es.all(n.indexWildcard)).map((d) => d.source as { message: string; tags: string[]; level?: string });
    assert.deepEqual(docs.find((d) => d.message === 'ok')!.level, 'info');
    assert.deepEqual(docs.find((d) => d.message === '{"message": broken')!.tags, ['_jsonparsefailure']);
    assert.deepEqual(docs.find((d) => d.message === '[1,2]')!.tags, ['_jsonparsefailure']);
  });

  it('SIGTERM drain: the indexer stops consuming, settles every delivery it holds and exits 0', async (t) => {
    const { n, env } = pipe.topology(t, 'sigterm');
    await bootstrap(env);
    const total = 3000;
    assert.equal((await ship(env, numberedLines(total))).code, 0);
    es.double?.setFaults({ latencyMs: 150 });
    const first = await pipe.startIndexer(t, env, ['--batch-size', '50', '--prefetch', '300']);
    try {
      await waitFor('some documents', async () => (await es.count(n.indexWildcard)) > 100, 30_000, 50);
      const res = await stopProcess(first, 'SIGTERM');
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stderr, /every delivery settled/);
      const indexed = await es.count(n.indexWildcard);
      const { messageCount, consumerCount } = await queueDepth(n.queue);
      assert.equal(consumerCount, 0);
      // nothing was acked without being written, nothing written was left unacked
      assert.equal(messageCount + indexed, total, `${messageCount} ready + ${indexed} indexed`);
      es.double?.setFaults({ latencyMs: 0 });
      const second = await pipe.startIndexer(t, env);
      await waitFor('the rest', async () => (await es.count(n.indexWildcard)) === total, 30_000);
      assert.equal(await metricValue(second.url, 'logship_indexer_events_duplicate_total'), 0, 'no event was indexed twice');
      assert.equal((await stopProcess(second)).code, 0);
    } finally {
      es.double?.setFaults({ latencyMs: 0 });
    }
  });

  it('SIGTERM of the shipper: stops reading, waits for confirms, exits 0 having counted only what was confirmed', async (t) => {
    const { n, env } = pipe.topology(t, 'shipterm');
    await bootstrap(env);
    const s = pipe.track(t, startCli(['ship'], { env }), 'SIGKILL');
    s.child.stdin!.write(numberedLines(500));
    await waitFor('500 messages queued', async () => (await queueDepth(n.queue)).messageCount === 500, 20_000);
    s.child.kill('SIGTERM');
    const res = await s.exited;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /read 500, published 500, skipped 0, failed 0/);
  });

  it('persistence across a broker restart: stop indexers, ship, restart the node, start one indexer, everything arrives', {
    skip: !rabbitAvailable() && 'rabbitmq-server not installed',
  }, async () => {
    const rabbit = new PrivateRabbit();
    await rabbit.start();
    try {
      const n = randomNames('restart', rabbit.url);
      const env = { ...n.env, LOGSHIP_ES_NODE: es.url };
      await bootstrap(env);
      const total = 2000;
      const r = await ship(env, numberedLines(total));
      assert.equal(r.code, 0, r.stderr);
      await rabbit.restart();
      assert.equal((await queueDepth(n.queue, rabbit.url)).messageCount, total, 'persistent messages in a durable queue survive');
      const p = await startIndexer(env);
      try {
        await waitFor('all documents', async () => (await es.count(n.indexWildcard)) === total, 60_000, 250);
        const ids = new Set((await es.all(n.indexWildcard)).map((d) => d.id));
        assert.equal(ids.size, total);
      } finally {
        assert.equal((await stopProcess(p)).code, 0);
      }
    } finally {
      await rabbit.destroy();
    }
  });
});

describe('broker refusals', () => {
  it('a broker nack (queue full, reject-publish) is retried for --nack-timeout, then reported as failed, never as published', async () => {
    const n = randomNames('nack');
    try {
      const { withChannel } = await import('../helpers/amqp.js');
      await withChannel(async (ch) => {
        await ch.assertExchange(n.exchange, 'direct', { durable: true });
        await ch.assertQueue(n.queue, { durable: true, arguments: { 'x-max-length': 5, 'x-overflow': 'reject-publish' } });
        await ch.bindQueue(n.queue, n.exchange, n.routingKey);
      });
      const started = Date.now();
      const r = await ship(n.env, numberedLines(20), ['--max-inflight', '1', '--nack-timeout', '3s']);
      const took = Date.now() - started;
      assert.equal(r.code, 1, r.stderr);
      assert.ok(took >= 3_000, `retried for the nack timeout (${took} ms)`);
      // input stops at the failure: what was read and not confirmed is reported, the rest stays unread
      const summary = /read (\d+), published 5, skipped 0, failed [1-9]/.exec(r.stderr);
      assert.ok(summary, r.stderr);
      const read = Number(summary[1]);
      assert.ok(read > 5 && read <= 20, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `the broker kept rejecting a message \\(nack\\) for [3-9] s, \\d+ times \\(the limit is 3 s\\); ${read - 5} of ${read} events read were not delivered`,
        ),
      );
      assert.equal((await queueDepth(n.queue)).messageCount, 5);
    } finally {
      await deleteTopology(n);
    }
  });
});

describe('consumer cancelled by the broker', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('after the queue is deleted and bootstrapped again, the indexer consumes and acks everything', async (t) => {
    const { n, env } = pipe.topology(t, 'recancel');
    await bootstrap(env);
    const p = await pipe.startIndexer(t, env);
    // a slow Elasticsearch: the indexer holds unacked deliveries when the queue disappears
    es.double?.setFaults({ latencyMs: 1500 });
    assert.equal((await ship(env, numberedLines(300))).code, 0);
    await waitFor('deliveries held', async () => (await queueDepth(n.queue)).messageCount === 0, 20_000);
    const { withChannel } = await import('../helpers/amqp.js');
    await withChannel((ch) => ch.deleteQueue(n.queue));
    es.double?.setFaults({ latencyMs: 0 });
    // the bulk in flight lands and every delivery of the deleted queue is let go (never acked)
    await waitFor('the old deliveries let go', async () => (await metricValue(p.url, 'logship_indexer_unacked_deliveries')) === 0, 20_000, 50);
    const before = await es.count(n.indexWildcard);
    await bootstrap(env);
    await waitFor('the indexer consuming again', async () => (await queueDepth(n.queue)).consumerCount === 1, 30_000);
    assert.equal((await ship(env, numberedLines(300).replace(/line/g, 'again'))).code, 0);
    const again = async () => (await es.all(n.indexWildcard)).filter((d) => /again/.test(String(d.source.message)));
    await waitFor('the 300 new lines indexed and every delivery settled', async () => (await again()).length >= 300 && (await drained(n.queue, p.url)), 30_000);
    const docs = await again();
    assert.equal(docs.length, 300, 'each new line indexed exactly once');
    assert.equal(new Set(docs.map((d) => d.source.message)).size, 300, 'all 300 distinct lines');
    assert.ok((await es.count(n.indexWildcard)) >= before + 300);
    const res = await stopProcess(p);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await queueDepth(n.queue)).messageCount, 0, 'every delivery of the new consumer was acked');
  });
});
