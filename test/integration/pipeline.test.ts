/** The pipeline end to end on the real broker: competing consumers, FIFO, foreign messages, outputs. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { drainQueue, queueDepth, withChannel } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { bootstrap, metricValue, numberedLines, ship, stopProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('pipeline', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('competing consumers: 3 indexers, 10k events, each indexed exactly once, every indexer got work', async (t) => {
    const { n, env } = pipe.topology(t, 'compete');
    await bootstrap(env);
    const indexers = await Promise.all([1, 2, 3].map(() => pipe.startIndexer(t, env, ['--prefetch', '200', '--batch-size', '200'])));
    await waitFor('3 consumers', async () => (await queueDepth(n.queue)).consumerCount === 3);
    const total = 10_000;
    const r = await ship(env, numberedLines(total));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`read ${total}, published ${total}, skipped 0, failed 0`));
    await waitFor('10k documents', async () => (await es.count(n.indexWildcard)) === total, 60_000, 250);

    const docs = await es.all(n.indexWildcard);
    assert.equal(docs.length, total);
    const ids = new Set(docs.map((d) => d.id));
    assert.equal(ids.size, total, 'one document per event.id');
    for (const d of docs) assert.equal(d.id, (d.source.event as { id: string }).id, '_id is event.id');
    const messages = new Set(docs.map((d) => d.source.message as string));
    for (let i = 0; i < total; i++) assert.ok(messages.has(`line ${i} lorem ipsum dolor sit amet`), `line ${i} indexed`);

    const perIndexer = await Promise.all(indexers.map((p) => metricValue(p.url, 'logship_indexer_events_indexed_total')));
    assert.equal(
      perIndexer.reduce((a, b) => a + b, 0),
      total,
      `sum of indexed over indexers: ${perIndexer.join(', ')}`,
    );
    for (const v of perIndexer) assert.ok(v > 0, `every indexer got work: ${perIndexer.join(', ')}`);
    const dups = await Promise.all(indexers.map((p) => metricValue(p.url, 'logship_indexer_events_duplicate_total')));
    assert.deepEqual(dups, [0, 0, 0]);
  });

  it('stdin redirected from a file (read by logship in 1 MiB chunks): every line once, in order, from where its offset stands', async (t) => {
    const { n } = pipe.topology(t, 'stdinfile');
    const dir = pipe.tmpDir(t, 'stdin');
    const file = path.join(dir, 'app.log');
    const lines = Array.from({ length: 12_000 }, (_, i) => `${i} ${'x'.repeat(i % 7 === 0 ? 400 : 200)}${i % 5 === 0 ? '\r' : ''}`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`); // about 3 MB: several 1 MiB reads
    const fd = fs.openSync(file, 'r');
    pipe.defer(t, () => fs.closeSync(fd));
    await bootstrap(n.env, ['--skip-elasticsearch']);
    // the first line was consumed by someone else, as in `(read first; logship ship) < app.log`
    const first = Buffer.byteLength(`${lines[0]}\n`);
    assert.equal(fs.readSync(fd, Buffer.alloc(first), 0, first, null), first);
    const r = await runCli(['ship', '--events-per-message', '100'], { env: n.env, input: { stdinFd: fd } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 11999, published 11999, skipped 0, failed 0/);
    const messages = (await drainQueue(n.queue)).flatMap((m) =>
      m.content
        .toString()
        .split('\n')
        .map((l) => (JSON.parse(l) as { message: string }).message),
    );
    assert.deepEqual(
      messages,
      lines.slice(1).map((l) => l.replace(/\r$/, '')),
    );
  });

  it('FIFO: one indexer with --bulk-concurrency 1, started after shipping, drains events in the order they were read', async (t) => {
    const { n, env: esEnv } = pipe.topology(t, 'fifo');
    const env = { ...esEnv, LOGSHIP_INDEX: `${n.indexWildcard.replace('*', 'fixed')}` };
    await bootstrap(env);
    const total = 3000;
    const r = await ship(env, numberedLines(total));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await queueDepth(n.queue)).messageCount, total);
    // several bulks in flight finish in any order; one at a time keeps the queue's order
    const p = await pipe.startIndexer(t, env, ['--batch-size', '100', '--bulk-concurrency', '1']);
    try {
      await waitFor('all documents', async () => (await es.count(n.indexWildcard)) === total, 60_000, 250);
      if (es.double) {
        const order = es.double.docs(n.indexWildcard).map((d) => Number(String(d.source.message).split(' ')[1]));
        assert.deepEqual(
          order,
          Array.from({ length: total }, (_, i) => i),
        );
      }
    } finally {
      const res = await stopProcess(p);
      assert.equal(res.code, 0, res.stderr);
    }
  });

  it('accepts foreign messages: Logstash JSON without event.id, plain text from syslog-ng, NDJSON batches', async (t) => {
    const { n, env } = pipe.topology(t, 'foreign');
    await bootstrap(env);
    await pipe.startIndexer(t, env);
    await withChannel(async (ch) => {
      ch.publish(n.exchange, n.routingKey, Buffer.from('{"message":"from logstash","@version":"1","@timestamp":"2026-11-21T10:00:00.000Z","host":"h1"}'), {
        persistent: true,
        messageId: 'ls-1',
      });
      ch.publish(n.exchange, n.routingKey, Buffer.from('<13>Nov 21 10:00:00 web-01 app: from syslog-ng'), { persistent: true });
      ch.publish(n.exchange, n.routingKey, Buffer.from('{"message":"no id at all"}'), { persistent: true, contentType: 'application/json' });
      await ch.close();
    });
    const r = await ship(env, numberedLines(25, 'batched'), ['--events-per-message', '10']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('28 documents', async () => (await es.count(n.indexWildcard)) === 28, 30_000);
    const docs = await es.all(n.indexWildcard);
    const byMessage = new Map(docs.map((d) => [d.source.message as string, d]));
    assert.equal(byMessage.get('from logstash')!.id, 'ls-1');
    assert.ok(byMessage.has('<13>Nov 21 10:00:00 web-01 app: from syslog-ng'));
    assert.ok(byMessage.get('no id at all')!.id, 'Elasticsearch generated an id');
    assert.equal(docs.filter((d) => String(d.source.message).startsWith('batched')).length, 25);
    assert.equal((await queueDepth(n.queue)).messageCount, 0);
  });

  it('--output file:PATH writes NDJSON with the same ack rule; --output stdout too', async (t) => {
    const { n, env } = pipe.topology(t, 'ndjson');
    await bootstrap(env);
    const file = path.join(pipe.tmpDir(t, 'out'), 'events.ndjson');
    assert.equal((await ship(n.env, numberedLines(500))).code, 0);
    const p = await pipe.startIndexer(t, n.env, ['--output', `file:${file}`]);
    await waitFor('500 lines in the file', () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length === 501, 30_000);
    await waitFor('the queue to be empty', async () => (await queueDepth(n.queue)).messageCount === 0);
    assert.equal((await stopProcess(p)).code, 0);
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string });
    assert.equal(lines[0]!.message, 'line 0 lorem ipsum dolor sit amet');

    assert.equal((await ship(n.env, numberedLines(20, 'out'))).code, 0);
    const s = await pipe.startIndexer(t, n.env, ['--output', 'stdout']);
    await waitFor(
      '20 lines on stdout',
      () =>
        s
          .stdout()
          .split('\n')
          .filter((l) => l.includes('"out ')).length === 20,
      30_000,
    );
    assert.equal((await stopProcess(s)).code, 0);
    assert.equal((await queueDepth(n.queue)).messageCount, 0, 'acked after writing');
  });
});
