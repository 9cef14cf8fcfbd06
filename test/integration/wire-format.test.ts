/**
 * Upgrading across the wire format: messages published in the format before
 * v1 (timestamp, app_id, content_encoding) wait in the queue and are indexed
 * by the new indexer exactly like the v1 messages `logship ship` publishes
 * now, through the real broker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { previousPublishProperties } from '@logship/common';
import { EventFactory } from '@logship/shipper';
import amqp from 'amqplib';
import { AMQP_URL, deleteTopology, queueDepth, randomNames } from '../helpers/amqp.js';
import { startEs, type EsTarget } from '../helpers/es.js';
import { bootstrap, ship, startIndexer, stopProcess } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('wire format across an upgrade', () => {
  let es: EsTarget;
  before(async () => {
    es = await startEs();
  });
  after(async () => es.close());

  it('messages of the previous format left in the queue are indexed like v1 messages, event.id as _id, the body as the document', async () => {
    const n = randomNames('wire');
    const env = { ...n.env, LOGSHIP_ES_NODE: es.url };
    try {
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

      const p = await startIndexer(env, ['--flush-interval', '100ms']);
      try {
        await waitFor('6 documents', async () => (await es.count(n.indexWildcard)) >= 6, 20_000, 100);
      } finally {
        await stopProcess(p);
      }
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
    } finally {
      await deleteTopology(n);
    }
  });
});
