import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createIndexNamer, validateIndexPattern } from '@logship/common';
import { buildBulkBody, bulkItemBytes, classifyItem, classifyResponse, decodeDelivery } from '@logship/indexer';

describe('bulk request builder', () => {
  it('event data cannot add or change an action (NDJSON injection)', () => {
    const hostile = JSON.stringify({
      '@timestamp': '2026-01-01T00:00:00.000Z',
      message: 'x"}}\n{"delete":{"_index":"logs-2026.01.01","_id":"victim"}}\n',
      event: { id: 'a"}}\n{"delete":{"_id":"v"}}' },
    });
    const d = decodeDelivery({ content: Buffer.from(hostile), properties: { contentType: 'application/json' } }, createIndexNamer('logs-%{+yyyy.MM.dd}'));
    const body = buildBulkBody(d.docs);
    const lines = body.toString().split('\n');
    assert.equal(lines.length, 3, 'one action, one source, trailing newline');
    assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), ['create']);
    assert.equal(JSON.parse(lines[0]!).create._id, 'a"}}\n{"delete":{"_id":"v"}}');
    assert.equal(JSON.parse(lines[1]!).message, 'x"}}\n{"delete":{"_index":"logs-2026.01.01","_id":"victim"}}\n');
  });

  it('one create action per document, with its own index and id, across index changes in a batch', () => {
    const docs = [
      { id: 'a', index: 'logs-1', source: '{"n":1}' },
      { id: undefined, index: 'logs-1', source: '{"n":2}' },
      { id: 'c', index: 'logs-2', source: '{"n":3}' },
      { id: 'd', index: 'logs-1', source: '{"n":4}' },
    ];
    const lines = buildBulkBody(docs).toString().split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines.filter((_l, i) => i % 2 === 0).map((l) => JSON.parse(l) as unknown),
      [
        { create: { _index: 'logs-1', _id: 'a' } },
        { create: { _index: 'logs-1' } },
        { create: { _index: 'logs-2', _id: 'c' } },
        { create: { _index: 'logs-1', _id: 'd' } },
      ],
    );
    assert.deepEqual(
      lines.filter((_l, i) => i % 2 === 1),
      docs.map((d) => d.source),
    );
  });

  it('bulkItemBytes counts exactly the UTF-8 bytes each document adds to the body, and the body holds the text of every action and source', () => {
    const doc = fc.record({
      id: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
      index: fc.constantFrom('logs-2026.01.01', 'logs-2026.01.02', 'ünïcödé-€'),
      source: fc.string({ unit: 'binary' }).map((m) => JSON.stringify({ m })),
      // some sources as the bytes of a delivery's body (BodyDocument), the others as strings
      asBytes: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(doc, { maxLength: 20 }), (records) => {
        const docs = records.map(({ asBytes, ...d }) => (asBytes ? { ...d, raw: Buffer.from(d.source), rawLength: Buffer.byteLength(d.source) } : d));
        // the body as text, built the plain way: what Elasticsearch must receive
        const text = docs
          .map((d) => `${JSON.stringify({ create: { _index: d.index, ...(d.id === undefined ? {} : { _id: d.id }) } })}\n${d.source}\n`)
          .join('');
        const sum = docs.reduce((n, d) => n + bulkItemBytes(d), 0);
        assert.equal(sum, Buffer.byteLength(text));
        assert.equal(buildBulkBody(docs).toString(), text);
        // the count measured when the documents were queued builds the same body
        assert.equal(buildBulkBody(docs, sum).toString(), text);
      }),
      { seed: process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined },
    );
  });

  it('a body whose bytes were miscounted is refused, never sent cut or padded', () => {
    const source = '{"n":1}';
    for (const rawLength of [source.length - 1, source.length + 1]) {
      const docs = [{ id: 'a', index: 'logs-1', source, raw: Buffer.from(source), rawLength }];
      assert.throws(() => buildBulkBody(docs), /bulk body of \d+ bytes measured, \d+ written/);
    }
    // and so is a count handed in that is not the body's, also where the last source would be cut before a
    // character of several bytes (Buffer.write stops before it, and the newline could make the length come out right)
    for (const last of ['{"n":1}', '{"m":"é"}é', '{"m":"€"}€', '{"m":"😀"}😀']) {
      const docs = [
        { id: 'a', index: 'logs-1', source: '{"m":"ü"}' },
        { id: 'b', index: 'logs-1', source: last },
      ];
      const exact = docs.reduce((n, d) => n + bulkItemBytes(d), 0);
      assert.equal(buildBulkBody(docs, exact).length, exact);
      for (let off = 1; off <= 5; off++) {
        for (const bytes of [exact - off, exact + off]) {
          assert.throws(() => buildBulkBody(docs, bytes), /bulk body of \d+ bytes measured, \d+ written/, `${last}, ${bytes - exact} bytes off`);
        }
      }
    }
  });

  it('every id, plain or needing escapes, comes back unchanged from its action line', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.stringMatching(/^[0-9a-f]{32}$/)), { maxLength: 20 }), (ids) => {
        const docs = ids.map((id) => ({ id, index: 'logs-1', source: '{}' }));
        const lines = buildBulkBody(docs).toString().split('\n');
        assert.deepEqual(
          ids.map((_id, i) => (JSON.parse(lines[2 * i]!) as { create: { _id: string } }).create._id),
          ids,
        );
      }),
      { seed: process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined },
    );
  });

  it('index names only expand digits from the timestamp, so they stay inside the pattern', () => {
    const namer = createIndexNamer('logs-%{+yyyy.MM.dd}-%{+HH}');
    assert.equal(namer.nameFor(Date.UTC(2026, 10, 21, 7)), 'logs-2026.11.21-07');
    assert.equal(namer.wildcard, 'logs-*-*');
    assert.equal(createIndexNamer('fixed').nameFor(Number.NaN), 'fixed');
    assert.equal(validateIndexPattern('logs-%{+yyyy.MM.dd}'), undefined);
    assert.match(validateIndexPattern('bad/name-%{+yyyy}')!, /forbids/);
    assert.match(validateIndexPattern('_x')!, /starts with/);
  });
});

describe('bulk outcome table', () => {
  it('200/201 ok, 409 duplicate, 429/5xx retry, other 4xx reject', () => {
    assert.equal(classifyItem({ status: 201 }).kind, 'ok');
    assert.equal(classifyItem({ status: 200 }).kind, 'ok');
    assert.equal(classifyItem({ status: 409, error: { type: 'version_conflict_engine_exception' } }).kind, 'duplicate');
    assert.equal(classifyItem({ status: 429, error: { type: 'es_rejected_execution_exception' } }).kind, 'retry');
    assert.equal(classifyItem({ status: 503 }).kind, 'retry');
    assert.equal(classifyItem(undefined).kind, 'retry');
    const r = classifyItem({ status: 400, error: { type: 'document_parsing_exception', reason: 'bad', caused_by: { reason: 'why' } } });
    assert.deepEqual(r, { kind: 'reject', status: 400, type: 'document_parsing_exception', reason: 'bad (caused by: why)' });
    assert.equal(classifyItem({ status: 404, error: { type: 'index_not_found_exception' } }).kind, 'reject');
  });

  it('errors=false means every item was written', () => {
    const docs = [
      { id: 'a', source: '{}', index: 'i' },
      { id: 'b', source: '{}', index: 'i' },
    ];
    assert.deepEqual(
      classifyResponse(docs, { errors: false, items: [{ create: { status: 201 } }, { create: { status: 201 } }] }).map((o) => o.kind),
      ['ok', 'ok'],
    );
    assert.deepEqual(
      classifyResponse(docs, { errors: true, items: [{ create: { status: 409 } }] }).map((o) => o.kind),
      ['duplicate', 'retry'],
    );
  });
});
