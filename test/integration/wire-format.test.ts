/**
 * Upgrading across the wire format: messages published in the format before
 * v1 (timestamp, app_id, content_encoding) wait in the queue and are indexed
 * by the new indexer exactly like the v1 messages `logship ship` publishes
 * now, through the real broker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { previousPublishProperties } from '@logship/common';
import { EventFactory } from '@logship/shipper';
import amqp from 'amqplib';
import { AMQP_URL, queueDepth } from '../helpers/amqp.js';
import { bootstrap, ship, stopProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('wire format across an upgrade', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('messages of the previous format left in the queue are indexed like v1 messages, event.id as _id, the body as the document', async (t) => {
    const { n, env } = pipe.topology(t, 'wire');
    await bootstrap(env);
    // what an older shipper left in the queue: one single-event message and one NDJSON message of two events
    const factory = new EventFactory({ hostName: 'old-host', inputType: 'stdin', codec: 'plain', scope: 'old-run' });
    const old = [factory.make('old single', 0, false), factory.make('old batch a', 1, false), factory.make('old batch b', 2, false)];
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish(n.exchange, n.routingKey, Buffer.from(old[0]!.json), previousPublishProperties(old[0]!.id, false));
      ch.publish(n.exchange, n.routingKey, Buffer.from(`${old[1]!.json}\n${old[2]!.json}`), previousPublishProperties('old-batch', true));
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    // and what the new shipper publishes (wire format v1)
    const shipped = await ship(env, 'new a\nnew b\nnew c\n');
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.equal((await queueDepth(n.queue)).messageCount, 5);

    const p = await pipe.startIndexer(t, env, ['--flush-interval', '100ms']);
    await waitFor('6 documents', async () => (await es.count(n.indexWildcard)) >= 6, 20_000, 100);
    await stopProcess(p);
    const docs = await es.all(n.indexWildcard);
    assert.equal(docs.length, 6);
    for (const e of old) {
      const doc = docs.find((d) => d.id === e.id);
      assert.ok(doc, `the previous-format event ${e.id} is indexed under its event.id`);
      assert.deepEqual(doc.source, JSON.parse(e.json), 'the event as shipped is the document');
    }
    assert.deepEqual(docs.map((d) => String(d.source.message)).sort(), ['new a', 'new b', 'new c', 'old batch a', 'old batch b', 'old single']);
    for (const d of docs) assert.equal((d.source.event as { id: string }).id, d.id);
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 0, 'nothing dead-lettered');
  });
});
