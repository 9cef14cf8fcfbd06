/** Contract tests: the official client accepts the double, and the double answers like Elasticsearch. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors } from '@elastic/elasticsearch';
import { DEFAULT_MAX_CONTENT_LENGTH } from '../helpers/es-double.js';
import { useEsDouble } from '../helpers/es.js';

describe('Elasticsearch double', () => {
  const { es, client } = useEsDouble();

  it('passes the client product check and answers info and ping', async () => {
    const info = await client.info();
    assert.match(info.version.number, /^8\./);
    assert.equal(await client.ping(), true);
  });

  it('creates with 201, answers 409 version_conflict_engine_exception for an existing id', async () => {
    const r1 = await client.bulk({ operations: [{ create: { _index: 'c1', _id: 'a' } }, { m: 1 }] });
    assert.equal(r1.errors, false);
    assert.equal(r1.items[0]!.create!.status, 201);
    const r2 = await client.bulk({ operations: [{ create: { _index: 'c1', _id: 'a' } }, { m: 1 }, { create: { _index: 'c1', _id: 'b' } }, { m: 2 }] });
    assert.equal(r2.errors, true);
    assert.equal(r2.items[0]!.create!.status, 409);
    assert.equal(r2.items[0]!.create!.error!.type, 'version_conflict_engine_exception');
    assert.equal(r2.items[1]!.create!.status, 201);
  });

  it('applies filter_path to successful responses like Elasticsearch, not to errors', async () => {
    const r = (await client.bulk({
      operations: [{ create: { _index: 'f1', _id: 'a' } }, { m: 1 }, { create: { _index: 'f1', _id: 'a' } }, { m: 1 }],
      filter_path: 'errors,items.*.status,items.*.error.type',
    })) as unknown;
    assert.deepEqual(r, {
      errors: true,
      items: [{ create: { status: 201 } }, { create: { status: 409, error: { type: 'version_conflict_engine_exception' } } }],
    });
    assert.deepEqual(await client.info({ filter_path: 'nothing.here' }), {});
    await assert.rejects(
      client.bulk({ operations: [{ nonsense: {} }, {}], filter_path: 'errors' } as never),
      (err: unknown) => err instanceof errors.ResponseError && err.statusCode === 400 && /Malformed action/.test(JSON.stringify(err.body)),
    );
  });

  it('hides documents from _count and _search until a refresh', async () => {
    await client.bulk({ operations: [{ create: { _index: 'r1', _id: 'x' } }, { message: 'hi', tags: ['t'] }] });
    assert.equal((await client.count({ index: 'r1' })).count, 0);
    await client.indices.refresh({ index: 'r1' });
    assert.equal((await client.count({ index: 'r*' })).count, 1);
    assert.equal((await client.count({ index: 'r1', query: { term: { tags: 't' } } })).count, 1);
    const s = await client.search({ index: 'r1' });
    assert.equal(s.hits.hits[0]!._id, 'x');
  });

  it('stores and reports index templates', async () => {
    assert.equal(await client.indices.existsIndexTemplate({ name: 'tpl' }), false);
    await client.indices.putIndexTemplate({ name: 'tpl', index_patterns: ['x-*'], template: { mappings: { properties: {} } } });
    assert.equal(await client.indices.existsIndexTemplate({ name: 'tpl' }), true);
  });

  it('fault: a rate of items answered 429 es_rejected_execution_exception', async () => {
    es.setFaults({ itemRate429: 0.5 });
    const ops = [];
    for (let i = 0; i < 100; i++) ops.push({ create: { _index: 'f429', _id: `i${i}` } }, { i });
    const r = await client.bulk({ operations: ops });
    es.clearFaults();
    const rejected = r.items.filter((it) => it.create!.status === 429);
    assert.ok(rejected.length > 20 && rejected.length < 80, `${rejected.length} rejected`);
    assert.equal(rejected[0]!.create!.error!.type, 'es_rejected_execution_exception');
    assert.equal(r.errors, true);
  });

  it('fault: chosen documents answered 400 document_parsing_exception', async () => {
    es.setFaults({ reject: (src) => src.bad === true });
    const r = await client.bulk({
      operations: [{ create: { _index: 'f400', _id: '1' } }, { bad: true }, { create: { _index: 'f400', _id: '2' } }, { bad: false }],
    });
    es.clearFaults();
    assert.equal(r.items[0]!.create!.status, 400);
    assert.equal(r.items[0]!.create!.error!.type, 'document_parsing_exception');
    assert.equal(r.items[1]!.create!.status, 201);
  });

  it('fault: down as 503 and as refused connections', async () => {
    es.setFaults({ down: '503' });
    await assert.rejects(client.info(), (err: unknown) => err instanceof errors.ResponseError && err.statusCode === 503);
    es.setFaults({ down: 'refuse' });
    await assert.rejects(client.info(), (err: unknown) => err instanceof errors.ConnectionError);
    es.clearFaults();
    assert.equal(await client.ping(), true);
  });

  it('rejects a malformed bulk body with 400 like Elasticsearch', async () => {
    const res = await fetch(`${es.url}/_bulk`, { method: 'POST', body: '{"delete":{"_id":"x"}}\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-elastic-product'), null);
  });

  it('answers a request body over http.max_content_length (100mb by default) with an empty 413, and the client raises a ResponseError', async () => {
    assert.equal(es.maxContentLength, DEFAULT_MAX_CONTENT_LENGTH);
    assert.equal(DEFAULT_MAX_CONTENT_LENGTH, 100 * 1024 * 1024);
    es.maxContentLength = 1024;
    try {
      const ops = [{ create: { _index: 'big1', _id: 'a' } }, { message: 'x'.repeat(2000) }];
      await assert.rejects(
        client.bulk({ operations: ops }),
        (err: unknown) => err instanceof errors.ResponseError && err.statusCode === 413 && (err.body === '' || err.body === undefined),
      );
      // not a bulk item, nothing stored; the connection keeps working
      assert.equal(es.docs('big1').length, 0);
      const raw = await fetch(`${es.url}/_bulk`, { method: 'POST', body: `{"create":{"_index":"big1"}}\n{"m":"${'y'.repeat(2000)}"}\n` });
      assert.equal(raw.status, 413);
      assert.equal(await raw.text(), '');
      assert.equal(raw.headers.get('x-elastic-product'), null);
      const small = await client.bulk({ operations: [{ create: { _index: 'big1', _id: 'b' } }, { m: 1 }] });
      assert.equal(small.items[0]!.create!.status, 201);
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
    }
  });

  it('answers a document nested deeper than 1000 levels with a 400 document_parsing_exception item, and stays up at 100,000 levels', async () => {
    const nested = (depth: number) => `{"message":"deep","a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
    const body = [
      '{"create":{"_index":"deep1","_id":"ok"}}',
      nested(1000),
      '{"create":{"_index":"deep1","_id":"over"}}',
      nested(1001),
      '{"create":{"_index":"deep1","_id":"huge"}}',
      nested(100_000),
      '{"create":{"_index":"deep1","_id":"strings"}}',
      `{"message":"${'['.repeat(2000)}"}`,
      '',
    ].join('\n');
    const r = await client.transport.request<{ errors: boolean; items: Array<{ create: { status: number; error?: { type: string; reason: string } } }> }>(
      { method: 'POST', path: '/_bulk', bulkBody: body },
      { meta: false },
    );
    assert.equal(r.errors, true);
    assert.deepEqual(
      r.items.map((it) => it.create.status),
      [201, 400, 400, 201],
      'depth 1000 and brackets inside strings are fine; 1001 and 100,000 are refused item by item',
    );
    for (const it of r.items.slice(1, 3)) {
      assert.equal(it.create.error!.type, 'document_parsing_exception');
      assert.match(it.create.error!.reason, /nesting depth \(1001\) exceeds the maximum allowed \(1000/);
    }
    assert.equal(es.docs('deep1').length, 2);
    // the stored documents can still be searched (nothing too deep to serialize was kept)
    await client.indices.refresh({ index: 'deep1' });
    assert.equal((await client.search({ index: 'deep1' })).hits.hits.length, 2);
  });
});
