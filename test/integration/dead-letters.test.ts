/**
 * Dead letters end to end: a dead letter the broker cannot route (the
 * dead-letter queue was deleted) is a failure, not a silent loss; events
 * Elasticsearch can never take (413 too large, nested too deep) are
 * dead-lettered with the reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drainQueue, queueDepth, withChannel } from '../helpers/amqp.js';
import { DEFAULT_MAX_CONTENT_LENGTH } from '../helpers/es-double.js';
import { bootstrap, metricValue, ship, stopProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface IndexerHealth {
  status: string;
  output: { lastError: string | null; lastErrorAt: string | null };
}

async function health(url: string): Promise<IndexerHealth> {
  return (await (await fetch(`${url}/health`)).json()) as IndexerHealth;
}

describe('dead letters', { skip: process.env.LOGSHIP_TEST_ES_NODE ? 'fault injection needs the double' : false }, () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('a dead letter returned because the dead-letter queue is missing is not lost: delivery unacked, /health degraded, a log line with the fix; after bootstrap it arrives once and is acked', async (t) => {
    const { n, env } = pipe.topology(t, 'dlmissing');
    await bootstrap(env);
    await withChannel((ch) => ch.deleteQueue(n.deadLetterQueue));
    const double = es.double!;
    double.setFaults({ reject: (src) => String(src.message).includes('POISON') });
    const p = await pipe.startIndexer(t, env, ['--retry-backoff', '50ms', '--retry-max-backoff', '500ms']);
    try {
      const r = await ship(env, 'good 1\nPOISON 2\ngood 3\n');
      assert.equal(r.code, 0, r.stderr);
      // and an undecodable body: dead-lettered by the indexer itself
      await withChannel(async (ch) => {
        ch.publish(n.exchange, n.routingKey, Buffer.from('{"truncated": '), { persistent: true, contentType: 'application/json' });
        await ch.close();
      });
      await waitFor('the good events indexed', async () => (await es.count(n.indexWildcard)) === 2, 20_000);
      await waitFor('/health degraded by the dead letters', async () => (await health(p.url)).status === 'degraded', 20_000);
      const h = await health(p.url);
      assert.match(h.output.lastError ?? '', /returned a dead letter/);
      await waitFor('a log line naming the dead-letter queue and the fix', () =>
        new RegExp(`dead-letter publish failed.*${n.deadLetterQueue.replace(/\./g, '\\.')}.*run logship bootstrap`).test(p.stderr()),
      );
      assert.equal(await metricValue(p.url, 'logship_indexer_unacked_deliveries'), 2, 'the two deliveries stay unacked');
      assert.equal((await queueDepth(n.queue)).messageCount, 0, 'held by the indexer, not back in the queue');
      assert.equal(await metricValue(p.url, 'logship_indexer_events_dead_lettered_total'), 0);

      await bootstrap(env);
      await waitFor('both deliveries acked', async () => (await metricValue(p.url, 'logship_indexer_unacked_deliveries')) === 0, 30_000);
      await waitFor('/health ok again', async () => (await health(p.url)).status === 'ok', 10_000);
      const recovered = await health(p.url);
      assert.equal(recovered.output.lastError, null, 'the error is cleared on recovery');
      assert.ok(recovered.output.lastErrorAt, 'when it happened is kept');
      const res = await stopProcess(p);
      assert.equal(res.code, 0, res.stderr);
      assert.equal((await queueDepth(n.queue)).messageCount, 0, 'every delivery was acked');
      const letters = await drainQueue(n.deadLetterQueue);
      assert.deepEqual(
        letters.map((m) => m.properties.headers!['x-logship-error-type']).sort(),
        ['document_parsing_exception', 'undecodable'],
        'each exactly once',
      );
      const rejected = letters.find((m) => m.properties.headers!['x-logship-error-type'] === 'document_parsing_exception')!;
      assert.equal(JSON.parse(rejected.content.toString()).message, 'POISON 2');
    } finally {
      double.clearFaults();
    }
  });

  it('an event larger than Elasticsearch accepts (413, http.max_content_length) is dead-lettered with the reason; the events around it are indexed', async (t) => {
    const { n, env } = pipe.topology(t, 'dl413');
    await bootstrap(env);
    const double = es.double!;
    double.maxContentLength = 256 * 1024;
    const p = await pipe.startIndexer(t, env);
    try {
      const r = await ship(env, `small 1\n${'L'.repeat(400 * 1024)}\nsmall 2\n`);
      assert.equal(r.code, 0, r.stderr);
      await waitFor('the dead letter', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 1, 20_000);
      await waitFor('the small events indexed', async () => (await es.count(n.indexWildcard)) === 2, 20_000);
      await waitFor('every delivery acked', async () => (await metricValue(p.url, 'logship_indexer_unacked_deliveries')) === 0, 20_000);
      const [letter] = await drainQueue(n.deadLetterQueue);
      const h = letter!.properties.headers!;
      assert.equal(h['x-logship-error-status'], 413);
      assert.equal(h['x-logship-error-type'], 'request_entity_too_large');
      assert.match(String(h['x-logship-error-reason']), /\d+ bytes.*http\.max_content_length/);
      assert.equal(String(JSON.parse(letter!.content.toString()).message).length, 400 * 1024);
      assert.equal((await stopProcess(p)).code, 0);
    } finally {
      double.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
    }
  });

  it('a document nested deeper than Elasticsearch accepts (1000 levels) is dead-lettered with the reason, like any other 4xx', async (t) => {
    const { n, env } = pipe.topology(t, 'dldeep');
    await bootstrap(env);
    const p = await pipe.startIndexer(t, env);
    const deep = `{"message":"deep","a":${'['.repeat(1000)}${']'.repeat(1000)}}`;
    await withChannel(async (ch) => {
      ch.publish(n.exchange, n.routingKey, Buffer.from(deep), { persistent: true, contentType: 'application/json' });
      ch.publish(n.exchange, n.routingKey, Buffer.from('{"message":"shallow"}'), { persistent: true, contentType: 'application/json' });
      await ch.close();
    });
    await waitFor('the dead letter', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 1, 20_000);
    await waitFor('the shallow one indexed', async () => (await es.count(n.indexWildcard)) === 1, 20_000);
    await waitFor('every delivery acked', async () => (await metricValue(p.url, 'logship_indexer_unacked_deliveries')) === 0, 20_000);
    const [letter] = await drainQueue(n.deadLetterQueue);
    assert.match(String(letter!.properties.headers!['x-logship-error-reason']), /nest/i);
    assert.equal((await stopProcess(p)).code, 0);
  });
});
