/** The bulk outcome table end to end: real broker, indexer process, Elasticsearch double with faults. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drainQueue, queueDepth, withChannel } from '../helpers/amqp.js';
import { bootstrap, metricValue, ship, stopProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('bulk outcomes end to end', { skip: process.env.LOGSHIP_TEST_ES_NODE ? 'fault injection needs the double' : false }, () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('a run with 201, 409, 429 and 400 mixed: nothing lost, nothing twice, exactly the 400s dead-lettered', async (t) => {
    const { n, env } = pipe.topology(t, 'mixed');
    await bootstrap(env);
    const double = es.double!;
    double.setFaults({ itemRate429: 0.2, reject: (src) => String(src.message).includes('POISON') });
    const total = 2000;
    let input = '';
    const poison = new Set<number>();
    for (let i = 0; i < total; i++) {
      const bad = i % 97 === 0;
      if (bad) poison.add(i);
      input += `event ${i}${bad ? ' POISON' : ''}\n`;
    }
    const p = await pipe.startIndexer(t, env, ['--batch-size', '100', '--retry-backoff', '20ms', '--retry-max-backoff', '200ms']);
    try {
      const r = await ship(env, input);
      assert.equal(r.code, 0, r.stderr);
      const good = total - poison.size;
      await waitFor('good events indexed', async () => (await es.count(n.indexWildcard)) === good, 60_000, 250);
      await waitFor('dead letters', async () => (await queueDepth(n.deadLetterQueue)).messageCount === poison.size, 30_000);

      // redeliver some already indexed events: 409, acked, counted as duplicates avoided
      const some = (await es.all(n.indexWildcard)).slice(0, 10);
      await withChannel(async (ch) => {
        for (const d of some)
          ch.publish(n.exchange, n.routingKey, Buffer.from(JSON.stringify(d.source)), { persistent: true, contentType: 'application/json' });
        await ch.close();
      });
      await waitFor('10 duplicates avoided', async () => (await metricValue(p.url, 'logship_indexer_events_duplicate_total')) === 10, 30_000);

      const docs = await es.all(n.indexWildcard);
      assert.equal(docs.length, good);
      assert.equal(new Set(docs.map((d) => d.id)).size, good);
      assert.equal(await metricValue(p.url, 'logship_indexer_events_dead_lettered_total'), poison.size);
      assert.ok((await metricValue(p.url, 'logship_indexer_bulk_retries_total')) > 0, '429s were retried');

      // retries never re-send an item that already succeeded: every id was answered 201 at most once
      const created = new Map<string, number>();
      for (const b of double.bulks) {
        b.ids.forEach((id, i) => {
          if (b.statuses[i] === 201) created.set(id!, (created.get(id!) ?? 0) + 1);
        });
      }
      for (const [id, times] of created) assert.equal(times, 1, `${id} created ${times} times`);
      const sentAfterSuccess = double.bulks.flatMap((b, bi) =>
        b.ids.filter((id) => double.bulks.slice(0, bi).some((prev) => prev.ids.some((pid, pi) => pid === id && prev.statuses[pi] === 201))),
      );
      assert.deepEqual(
        sentAfterSuccess.filter((id) => !some.some((s) => s.id === id)),
        [],
        'only the deliberately redelivered ids were sent again',
      );

      const letters = await drainQueue(n.deadLetterQueue);
      const lettered = letters.map((m) => Number(String(JSON.parse(m.content.toString()).message).split(' ')[1])).sort((a, b) => a - b);
      assert.deepEqual(
        lettered,
        [...poison].sort((a, b) => a - b),
      );
      const h = letters[0]!.properties.headers!;
      assert.equal(h['x-logship-error-type'], 'document_parsing_exception');
      assert.equal(h['x-logship-error-status'], 400);
      assert.match(String(h['x-logship-error-reason']), /failed to parse field/);
      assert.match(String(h['x-logship-index']), new RegExp(n.indexWildcard.replace('*', '')));

      const res = await stopProcess(p);
      assert.equal(res.code, 0, res.stderr);
      assert.equal((await queueDepth(n.queue)).messageCount, 0, 'every delivery was acked');
    } finally {
      double.clearFaults();
    }
  });

  it('Elasticsearch down (503, then refused connections): deliveries stay unacked, /health degraded, all arrive on recovery', async (t) => {
    const { n, env } = pipe.topology(t, 'esdown');
    await bootstrap(env);
    const double = es.double!;
    const p = await pipe.startIndexer(t, env, ['--retry-backoff', '50ms', '--retry-max-backoff', '300ms']);
    try {
      double.setFaults({ down: '503' });
      assert.equal((await ship(env, Array.from({ length: 300 }, (_, i) => `down ${i}`).join('\n'))).code, 0);
      await waitFor('degraded health', async () => ((await (await fetch(`${p.url}/health`)).json()) as { status: string }).status === 'degraded', 20_000);
      double.setFaults({ down: 'refuse' });
      // the indexer tried again against refused connections: observable in the double's request count
      const refusedFrom = double.requests;
      await waitFor('two retries against refused connections', () => double.requests >= refusedFrom + 2, 20_000, 20);
      assert.equal(((await (await fetch(`${p.url}/health`)).json()) as { status: string }).status, 'degraded');
      assert.equal(await metricValue(p.url, 'logship_indexer_unacked_deliveries'), 300, 'every delivery held unacked');
      const held = await queueDepth(n.queue);
      assert.equal(held.messageCount, 0, 'the deliveries are held unacked by the indexer, not in the ready count');
      assert.equal(double.docs(n.indexWildcard).length, 0, 'nothing written while down');
      double.clearFaults();
      await waitFor('300 documents after recovery', async () => (await es.count(n.indexWildcard)) === 300, 30_000);
      await waitFor('health ok', async () => ((await (await fetch(`${p.url}/health`)).json()) as { status: string }).status === 'ok', 10_000);
      assert.equal((await stopProcess(p)).code, 0);
      assert.equal((await queueDepth(n.queue)).messageCount, 0);
    } finally {
      double.clearFaults();
    }
  });

  it('undecodable messages go to the dead-letter queue with the reason, and are acked', async (t) => {
    const { n, env } = pipe.topology(t, 'poison');
    await bootstrap(env);
    const p = await pipe.startIndexer(t, env);
    await withChannel(async (ch) => {
      ch.publish(n.exchange, n.routingKey, Buffer.from('{"truncated": '), { persistent: true, contentType: 'application/json' });
      await ch.close();
    });
    await waitFor('the dead letter', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 1, 20_000);
    const [letter] = await drainQueue(n.deadLetterQueue);
    assert.equal(letter!.content.toString(), '{"truncated": ');
    assert.equal(letter!.properties.headers!['x-logship-error-type'], 'undecodable');
    assert.match(String(letter!.properties.headers!['x-logship-error-reason']), /invalid JSON/);
    assert.equal((await stopProcess(p)).code, 0);
    assert.equal((await queueDepth(n.queue)).messageCount, 0);
  });
});
