/** The Elasticsearch output against the double: request-level failures are retried, never dead-lettered. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEsClient } from '@logship/common/elasticsearch';
import { ElasticsearchOutput, type Document } from '@logship/indexer';
import { EsDouble } from '../helpers/es-double.js';

const docs: Document[] = [
  { id: 'a', source: '{"message":"a"}', index: 'out-1' },
  { id: 'b', source: '{"message":"b"}', index: 'out-1' },
];

describe('Elasticsearch output', () => {
  const es = new EsDouble();
  let output: ElasticsearchOutput;
  before(async () => {
    const url = await es.start();
    output = new ElasticsearchOutput(createEsClient({ esNode: url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 300 }));
  });
  after(async () => {
    await output.close();
    await es.stop();
  });

  it('writes with create and _id = event.id: 201 then 409 on a second write', async () => {
    assert.deepEqual(
      (await output.write(docs)).map((o) => o.kind),
      ['ok', 'ok'],
    );
    assert.deepEqual(
      (await output.write(docs)).map((o) => o.kind),
      ['duplicate', 'duplicate'],
    );
    assert.deepEqual(es.bulks[0]!.ids, ['a', 'b']);
    assert.equal(output.reachable, true);
  });

  it('a timeout is retried for every item', async () => {
    es.setFaults({ latencyMs: 1000 });
    const outcomes = await output.write([{ id: 't', source: '{}', index: 'out-1' }]);
    es.clearFaults();
    assert.equal(outcomes[0]!.kind, 'retry');
    assert.match((outcomes[0] as { reason: string }).reason, /timed out/i);
    assert.equal(output.reachable, false);
  });

  it('a 503 and a refused connection are retried for every item', async () => {
    es.setFaults({ down: '503' });
    const a = await output.write(docs);
    es.setFaults({ down: 'refuse' });
    const b = await output.write(docs);
    es.clearFaults();
    assert.deepEqual(
      [...a, ...b].map((o) => o.kind),
      ['retry', 'retry', 'retry', 'retry'],
    );
    assert.equal((a[0] as { status?: number }).status, 503);
  });

  it('recovers: the next write after the fault succeeds', async () => {
    const outcomes = await output.write([{ id: 'after', source: '{}', index: 'out-1' }]);
    assert.equal(outcomes[0]!.kind, 'ok');
    assert.equal(output.reachable, true);
  });
});
